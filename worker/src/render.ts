import { escapeHtml } from '@sqlitening/contract';
import type { AlertView } from './alert-view.js';
import { boardQueryString } from './board-query.js';
import type { BoardView, ClusterLine } from './board-view.js';
import type { ClusterView, PodView } from './cluster-view.js';
import type { Health } from './summary.js';

/*
 * The board for people: plain HTML and CSS, no horizontal scrolling on a
 * phone. The global page is one line per cluster, stale and degraded ones
 * first; a cluster's pods are on its own page. Times are absolute in the
 * markup (so it stays cacheable) and turned into "3m ago" by a small script.
 */

const short = (sha: string | null): string => (sha ? `<code title="${escapeHtml(sha)}">${escapeHtml(sha.slice(0, 8))}</code>` : '—');

/** A time the page's script turns into "3m ago" in the reader's clock. */
const time = (value: string | null): string => (value ? `<time datetime="${escapeHtml(value)}">${escapeHtml(value)}</time>` : 'never');

const clusterHref = (id: string): string => `/clusters/${encodeURIComponent(id)}`;

const STYLE = `
:root{--ok:#1a7f37;--stale:#cf222e;--lag:#bf8700;--muted:#57606a;--line:#d0d7de;font:15px/1.4 system-ui,sans-serif;color:#1f2328}
*{box-sizing:border-box}body{margin:0 auto;max-width:1200px;padding:.75rem;overflow-wrap:anywhere}
h1{font-size:1.3rem;margin:.2rem 0}h2{font-size:1.05rem;margin:1.2rem 0 .3rem}small,.muted{color:var(--muted)}code{font-size:.9em}
a{color:inherit}.dot{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.4em;background:var(--ok);flex:none}
.stale .dot,tr.stale .dot{background:var(--stale)}small.mirror{color:var(--lag);font-weight:600}.degraded .dot,tr.lagging .dot{background:var(--lag)}tr.ok .dot{background:var(--ok)}
.counts b.stale{color:var(--stale)}.counts b.degraded{color:var(--lag)}.counts a.current{outline:2px solid var(--line);border-radius:3px}p.rest{margin:.6rem 0}
ul.clusters{list-style:none;margin:0;padding:0}
.line{display:flex;flex-wrap:wrap;align-items:baseline;gap:.15rem 1rem;padding:.45rem .6rem;border-bottom:1px solid var(--line);border-left:4px solid var(--ok)}
.line.stale{border-left-color:var(--stale);background:#ffebe9}.line.degraded{border-left-color:var(--lag);background:#fff8c5}
.line .name{font-weight:600;min-width:min(14rem,100%);display:inline-flex;align-items:baseline}
.why{flex-basis:100%;margin:0;color:var(--muted);font-size:.92em}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th,td{white-space:nowrap;overflow-wrap:normal}td.name,td.why{white-space:normal;overflow-wrap:anywhere}td.name{min-width:12rem}
tr.stale td{background:#ffebe9}tr.lagging td{background:#fff8c5}td.why{color:var(--muted);font-size:.9em}
ul.alerts{padding-left:1.2rem}li.recovered b{color:var(--ok)}li.stale b,li.reminder b{color:var(--stale)}
@media (max-width:720px){
 table.pods thead{display:none}table.pods,table.pods tbody,table.pods tr,table.pods td{display:block;width:100%}
 table.pods tr{border-bottom:1px solid var(--line);padding:.3rem 0}
 table.pods td{border:0;padding:.05rem .4rem .05rem 6.4rem;position:relative;white-space:normal;overflow-wrap:anywhere;min-width:0}
 table.pods td::before{content:attr(data-label);color:var(--muted);position:absolute;left:.4rem;width:5.6rem}table.pods td:empty{display:none}
}`;

/** Turns every <time> into "3m ago"; the absolute time stays in its title. */
const SCRIPT = `<script>
for (const t of document.querySelectorAll('time')) {
  const s = Math.round((Date.now() - Date.parse(t.dateTime)) / 1000);
  t.title = t.dateTime;
  t.textContent = s < 120 ? s + 's ago' : s < 7200 ? Math.round(s / 60) + 'm ago' : s < 172800 ? (s / 3600).toFixed(1) + 'h ago' : (s / 86400).toFixed(1) + 'd ago';
}
</script>`;

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta http-equiv="refresh" content="30">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>
${body}
${SCRIPT}</body></html>`;
}

function commitsText(commits: ClusterLine['commits']): string {
  if (commits.length === 0) return '<span class="commits muted">no app commit</span>';
  const shown = commits
    .slice(0, 3)
    .map((c) => `${short(c.gitSha)}${commits.length > 1 ? `×${c.pods}` : ''}`)
    .join(' ');
  const more = commits.length > 3 ? ` +${commits.length - 3} more` : '';
  return `<span class="commits">${commits.length} commit${commits.length > 1 ? 's' : ''} ${shown}${more}</span>`;
}

function dataAge(line: Pick<ClusterLine, 'oldestSyncAt' | 'neverSynced'>): string {
  const parts = [];
  if (line.oldestSyncAt) parts.push(`oldest sync ${time(line.oldestSyncAt)}`);
  if (line.neverSynced > 0) parts.push(`${line.neverSynced} never synced`);
  return parts.length ? `<span class="age">${parts.join(', ')}</span>` : '';
}

/** What one line says about a cluster: fresh and live pods, commits, worst data age, state, and why. */
function clusterFacts(line: ClusterLine): string {
  const label = { stale: 'STALE', degraded: 'degraded', ok: 'fresh' }[line.health];
  return `<span class="pods">${line.pods.fresh}/${line.pods.total} pods fresh</span> ${commitsText(line.commits)} ${dataAge(line)}
<small>${label}${line.since ? ` since ${time(line.since)}` : ''}</small>
${line.reasons.length ? `<p class="why">${escapeHtml(line.reasons.join('; '))}</p>` : ''}`;
}

function clusterLine(line: ClusterLine): string {
  return `<li class="cluster line ${line.health}" data-cluster="${escapeHtml(line.id)}" data-state="${line.state}" data-health="${line.health}">
<a class="name" href="${escapeHtml(clusterHref(line.id))}"><span class="dot"></span>${escapeHtml(line.id)}</a>
${clusterFacts(line)}</li>`;
}

function alertItem(a: AlertView, withCluster: boolean): string {
  const deliveries = a.deliveries.map((d) => `${escapeHtml(d.status)}×${d.attempts}${d.lastError ? ` (${escapeHtml(d.lastError)})` : ''}`).join(' ');
  return `<li class="${a.kind}">${time(a.at)} ${withCluster ? `<b><a href="${escapeHtml(clusterHref(a.cluster))}">${escapeHtml(a.cluster)}</a></b> ` : ''}<b>${a.kind}</b>${a.reasons.length ? `: ${escapeHtml(a.reasons.join('; '))}` : ''} <small>${deliveries}</small></li>`;
}

const HEALTH_WORDS = { stale: 'stale', degraded: 'degraded', ok: 'fresh' } as const;

/** The count line of the whole board: each health a link to its own lines (`?health=…`), the page's own outlined. */
function countsLine(view: BoardView): string {
  const { counts, page } = view;
  const group = (health: Health) => {
    const text = `${counts[health].toLocaleString('en')} ${HEALTH_WORDS[health]}`;
    return `<a class="${health}${page.health === health ? ' current' : ''}" href="/${escapeHtml(boardQueryString({ health, after: null }))}">${health === 'ok' ? text : `<b class="${health}">${text}</b>`}</a>`;
  };
  const all = page.health === null ? '' : ' · <a href="/">first page</a>';
  return `<p class="counts">${counts.clusters.toLocaleString('en')} cluster${counts.clusters === 1 ? '' : 's'}: ${group('stale')} · ${group('degraded')} · ${group('ok')}${all}</p>`;
}

/** What the page leaves out: fresh clusters only counted on the first page, and the link to the next page. */
function restLine(view: BoardView): string {
  const parts = [];
  const listed = view.clusters.filter((c) => c.health === 'ok').length;
  if (view.page.health === null && view.counts.ok > listed) {
    parts.push(`${view.counts.ok.toLocaleString('en')} fresh clusters not listed: <a href="/?health=ok">list them</a>`);
  }
  if (view.next)
    parts.push(
      `<a class="next" rel="next" href="/${escapeHtml(boardQueryString(view.next))}">next page: more ${HEALTH_WORDS[view.next.health!]} clusters →</a>`,
    );
  return parts.length ? `<p class="rest">${parts.join(' · ')}</p>` : '';
}

/** The global board: a count line, one line per cluster of the page (stale, degraded, then fresh), what the page left out, recent alerts, the dead man's switch. */
export function boardHtml(view: BoardView): string {
  const stale = view.counts.stale;
  const alerts = view.alerts
    .slice(0, 20)
    .map((a) => alertItem(a, true))
    .join('');
  const empty = view.counts.clusters === 0 ? '<li>No cluster has reported yet.</li>' : '<li>None on this page.</li>';
  return page(
    `${stale ? `${stale} stale` : 'all fresh'} · Sqlitening freshness`,
    `<h1>Sqlitening freshness</h1>${countsLine(view)}
<ul class="clusters">${view.clusters.map(clusterLine).join('\n') || empty}</ul>
${restLine(view)}
<h2>Recent alerts</h2><ul class="alerts">${alerts || '<li>none</li>'}</ul>
<p><small>Dead man's switch: ${view.deadMan.lastPingAt ? `${time(view.deadMan.lastPingAt)} (${escapeHtml(view.deadMan.lastResult)})` : 'not pinged yet'} · <a href="/v1/board${escapeHtml(boardQueryString(view.page))}">JSON</a> · <a href="/v1/commits">commits</a></small></p>`,
  );
}

const POD_ORDER = { stale: 0, lagging: 1, ok: 2 } as const;

/** A small marker on a pod that reads from a mirror (not its first store): fresh, but its first store or the way to it fails. */
function mirrorMark(pod: PodView): string {
  if (!pod.onMirror || !pod.store) return '';
  return ` <small class="mirror" data-store="${pod.store.index}" title="reads from store ${pod.store.index}, not its first: ${escapeHtml(pod.store.location)}">mirror ${pod.store.index}</small>`;
}

function podRow(pod: PodView): string {
  const why = [...pod.reasons, pod.lastError ? `error: ${pod.lastError}` : ''].filter(Boolean).join('; ');
  return `<tr class="pod ${pod.state}" data-pod="${escapeHtml(pod.pod)}" data-state="${pod.state}">
<td class="name" data-label="pod">${escapeHtml(pod.pod)}</td><td data-label="state"><span class="dot"></span>${pod.state}${mirrorMark(pod)}</td>
<td data-label="app">${short(pod.appGitSha)}</td><td data-label="database">${short(pod.dbGitSha)} ${pod.dbSha256 ? `<small>${escapeHtml(pod.dbSha256.slice(0, 12))}</small>` : ''}</td>
<td data-label="built">${time(pod.dbCreatedAt)}</td><td data-label="heartbeat">${time(pod.lastHeartbeatAt)}</td><td data-label="last sync">${time(pod.lastSuccessAt)}</td>
<td class="why" data-label="why">${escapeHtml(why)}</td></tr>`;
}

/** One cluster's page: its line, every live pod (stale and lagging first), and its alerts with their deliveries. */
export function clusterHtml(line: ClusterLine, cluster: ClusterView, alerts: AlertView[]): string {
  const pods = [...cluster.pods].sort((a, b) => POD_ORDER[a.state] - POD_ORDER[b.state] || a.pod.localeCompare(b.pod));
  return page(
    `${cluster.id}: ${cluster.state === 'stale' ? 'STALE' : 'fresh'} · Sqlitening freshness`,
    `<p><small><a href="/">← all clusters</a></small></p>
<h1 class="${line.health}" data-cluster="${escapeHtml(cluster.id)}" data-state="${cluster.state}" data-health="${line.health}"><span class="dot"></span>${escapeHtml(cluster.id)}</h1>
<div class="line ${line.health}">${clusterFacts(line)}${cluster.podsOnMirror ? `<p class="why">${cluster.podsOnMirror} pod${cluster.podsOnMirror === 1 ? '' : 's'} reading from a mirror, not the first store</p>` : ''}</div>
<h2>Pods</h2>
<table class="pods"><thead><tr><th>pod</th><th>state</th><th>app</th><th>database</th><th>built</th><th>heartbeat</th><th>last sync</th><th>why</th></tr></thead>
<tbody>${pods.map(podRow).join('') || '<tr><td colspan="8">no pod has reported</td></tr>'}</tbody></table>
<h2>Alerts</h2><ul class="alerts">${alerts.map((a) => alertItem(a, false)).join('') || '<li>none</li>'}</ul>
<p><small><a href="/v1/clusters/${escapeHtml(encodeURIComponent(cluster.id))}">JSON</a></small></p>`,
  );
}

/** A status badge like shields.io's: "freshness | ok" in green, "stale" in red, "unknown" in grey. */
export function badgeSvg(label: string, state: 'ok' | 'stale' | 'unknown'): string {
  const colour = { ok: '#1a7f37', stale: '#cf222e', unknown: '#6e7781' }[state];
  const left = Math.max(40, label.length * 7 + 10);
  const right = state.length * 7 + 12;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${left + right}" height="20" role="img" aria-label="${escapeHtml(label)}: ${state}">
<title>${escapeHtml(label)}: ${state}</title><rect width="${left}" height="20" fill="#555"/><rect x="${left}" width="${right}" height="20" fill="${colour}"/>
<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">
<text x="${left / 2}" y="14">${escapeHtml(label)}</text><text x="${left + right / 2}" y="14">${state}</text></g></svg>`;
}
