import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { HealthReport } from '../src/agent/health.js';
import { AgentMetrics } from '../src/agent/metrics.js';

/*
 * examples/prometheus/ against the agent's metrics registry: every series the
 * alerting rules and the Grafana dashboard query is one the agent exports.
 * (scripts/check-prometheus-rules.sh runs promtool on the rules themselves.)
 */

const RULES = 'examples/prometheus/rules.yml';
const DASHBOARD = 'examples/prometheus/grafana-dashboard.json';
/** Series Prometheus writes for every target itself. */
const SCRAPE_SERIES = new Set(['up']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan']);

/** The metric names a PromQL expression selects (Grafana's `$variables` allowed). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\$\{?\w+\}?/g, '');
  const names: string[] = [];
  for (const match of bare.matchAll(/(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = bare.slice(match.index + match[0].length);
    // A name followed by a parenthesis is a function or an aggregation.
    if (/^\s*\(/.test(after) || KEYWORDS.has(match[0].toLowerCase())) continue;
    names.push(match[0]);
  }
  return names;
}

/**
 * The series names the agent's registry exports, with a snapshot installed (the database age is absent before):
 * every family, also one whose labels have no values yet, and a histogram's or summary's own series.
 */
async function exportedSeries(): Promise<Set<string>> {
  const report: HealthReport = {
    ok: true,
    ready: true,
    appGitSha: 'a'.repeat(40),
    database: { gitSha: 'a'.repeat(40), sha256: 'b'.repeat(64), createdAt: '2026-01-01T00:00:00.000Z', ageSeconds: 60, size: 4096 },
    lastRunAt: '2026-01-01T00:01:00.000Z',
    lastSuccessAt: '2026-01-01T00:01:00.000Z',
    lastError: null,
    lastInstall: { method: 'full', bytes: 4096, at: '2026-01-01T00:01:00.000Z', fallback: null, store: { index: 0, location: 's3://bucket/site' } },
    store: { index: 0, location: 's3://bucket/site' },
    tasks: [{ name: 'database', ageSeconds: 0, limitSeconds: 600, ok: true }],
    checkedAt: '2026-01-01T00:01:00.000Z',
  };
  const families = await new AgentMetrics(async () => report).registry.getMetricsAsJSON();
  const suffixes: Record<string, string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] };
  return new Set(families.flatMap(({ name, type }) => (suffixes[String(type)] ?? ['']).map((suffix) => `${name}${suffix}`)));
}

interface Dashboard {
  templating: { list: Array<{ name: string; type: string; query: unknown; definition?: string; datasource?: { uid: string } }> };
  panels: Array<{ type: string; title: string; datasource?: { uid: string }; targets?: Array<{ expr: string; datasource?: { uid: string } }> }>;
}

async function ruleExpressions(): Promise<Array<{ alert: string; expr: string }>> {
  const rules = parseYaml(await readFile(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  return rules.groups.flatMap((group) => group.rules);
}

async function dashboard(): Promise<Dashboard> {
  return JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
}

describe('metricNames', () => {
  it('finds the selected metrics, not functions, labels, keywords, ranges or variables', () => {
    expect(
      metricNames('increase(a_total{job=~"x.*", pod="$pod"}[30m]) / sum without (result) (increase(b_total[$__rate_interval])) > 0.5 and on (pod) c'),
    ).toEqual(['a_total', 'b_total', 'c']);
    expect(metricNames('time() - d_seconds > 6 * 3600 unless e offset 5m')).toEqual(['d_seconds', 'e']);
  });
});

describe('examples/prometheus', () => {
  it('alerts only on series the agent exports', async () => {
    const exported = await exportedSeries();
    const rules = await ruleExpressions();
    expect(rules.length).toBeGreaterThan(0);
    const unknown = rules.flatMap(({ alert, expr }) =>
      metricNames(expr).flatMap((name) => (exported.has(name) || SCRAPE_SERIES.has(name) ? [] : [`${alert}: ${name}`])),
    );
    expect(unknown).toEqual([]);
  });

  it('every alert has a severity, a summary and description naming the pod and cluster, a runbook, and a firing and a silent unit test', async () => {
    const rules = parseYaml(await readFile(RULES, 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }>;
    };
    const tests = parseYaml(await readFile('examples/prometheus/rules.test.yml', 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    const gaps = rules.groups
      .flatMap((group) => group.rules)
      .flatMap(({ alert, labels, annotations }) => {
        const text = `${annotations?.summary ?? ''} ${annotations?.description ?? ''}`;
        const own = cases.filter((test) => test.alertname === alert);
        return [
          ['critical', 'warning'].includes(labels?.severity ?? '') ? [] : [`${alert}: severity`],
          text.includes('{{ $labels.pod }}') && text.includes('{{ $labels.cluster }}') ? [] : [`${alert}: pod and cluster in the annotations`],
          annotations?.runbook?.includes(`#${alert.toLowerCase()}`) ? [] : [`${alert}: runbook`],
          own.some((test) => test.exp_alerts.length > 0) ? [] : [`${alert}: a firing test`],
          own.some((test) => test.exp_alerts.length === 0) ? [] : [`${alert}: a silent test`],
        ].flat();
      });
    expect(gaps).toEqual([]);
  });

  it('charts only series the agent exports, and every sqlitening_ metric it exports', async () => {
    const exported = await exportedSeries();
    const board = await dashboard();
    const expressions = [
      ...board.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: panel.title, expr: target.expr }))),
      ...board.templating.list.flatMap((variable) =>
        variable.definition ? [{ where: `$${variable.name}`, expr: variable.definition.replace(/^label_values\((.*),[^,]*\)$/, '$1') }] : [],
      ),
    ];
    const used = new Set(expressions.flatMap(({ expr }) => metricNames(expr)));
    const unknown = expressions.flatMap(({ where, expr }) =>
      metricNames(expr).flatMap((name) => (exported.has(name) || SCRAPE_SERIES.has(name) ? [] : [`${where}: ${name}`])),
    );
    expect(unknown).toEqual([]);
    expect([...exported].filter((name) => name.startsWith('sqlitening_') && !name.startsWith('sqlitening_agent_') && !used.has(name))).toEqual([]);
  });

  it('the dashboard queries through its data source variable', async () => {
    const board = await dashboard();
    expect(board.templating.list.find((variable) => variable.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const queried = board.panels.filter((panel) => panel.type !== 'row');
    expect(queried.length).toBeGreaterThan(0);
    const elsewhere = queried.flatMap((panel) =>
      [panel.datasource, ...(panel.targets ?? []).map((target) => target.datasource)]
        .filter((source) => source?.uid !== `\${datasource}`)
        .map(() => panel.title),
    );
    expect(elsewhere).toEqual([]);
  });
});
