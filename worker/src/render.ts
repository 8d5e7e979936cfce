import { escapeHtml } from '@sqlitening/contract';
import type { BoardView, ClusterView, PodView } from './views.js';

const short = (sha: string | null): string => (sha ? `<code title="${escapeHtml(sha)}">${escapeHtml(sha.slice(0, 8))}</code>` : '—');

/** A time the page's script turns into "3m ago" in the reader's clock; the markup itself stays cacheable. */
const time = (value: string | null): string => (value ? `<time datetime="${escapeHtml(value)}">${escapeHtml(value)}</time>` : 'never');

function podRow(pod: PodView): string {
  return `<tr class="pod ${pod.state}" data-pod="${escapeHtml(pod.pod)}" data-state="${pod.state}">
<td class="name">${escapeHtml(pod.pod)}</td><td><span class="dot"></span>${pod.state}</td>
<td>${short(pod.appGitSha)}</td><td>${short(pod.dbGitSha)} ${pod.dbSha256 ? `<small>${escapeHtml(pod.dbSha256.slice(0, 12))}</small>` : ''}</td>
<td>${time(pod.dbCreatedAt)}</td><td>${time(pod.lastHeartbeatAt)}</td><td>${time(pod.lastSuccessAt)}</td>
<td class="why">${escapeHtml([...pod.reasons, pod.lastError ? `error: ${pod.lastError}` : ''].filter(Boolean).join('; '))}</td></tr>`;
}

function clusterSection(cluster: ClusterView): string {
  return `<section class="cluster ${cluster.state}" data-cluster="${escapeHtml(cluster.id)}" data-state="${cluster.state}">
<h2><span class="dot"></span>${escapeHtml(cluster.id)} <small>${cluster.state === 'ok' ? 'fresh' : 'STALE'}${cluster.since ? ` since ${time(cluster.since)}` : ''}</small></h2>
${cluster.reasons.length ? `<p class="why">${escapeHtml(cluster.reasons.join('; '))}</p>` : ''}
<div class="scroll"><table><thead><tr><th>pod</th><th>state</th><th>app</th><th>database</th><th>built</th><th>heartbeat</th><th>last sync</th><th>why</th></tr></thead>
<tbody>${cluster.pods.map(podRow).join('') || '<tr><td colspan="8">no pod has reported</td></tr>'}</tbody></table></div></section>`;
}

/** The board for people: clusters × pods, colours by state, auto refresh; plain HTML and CSS, readable on a phone. */
export function boardHtml(view: BoardView): string {
  const stale = view.clusters.filter((c) => c.state === 'stale').length;
  const alerts = view.alerts
    .slice(0, 20)
    .map(
      (a) =>
        `<li class="${a.kind}">${time(a.at)} <b>${escapeHtml(a.cluster)}</b> ${a.kind}${a.reasons.length ? `: ${escapeHtml(a.reasons.join('; '))}` : ''} <small>${a.deliveries.map((d) => `${d.status}×${d.attempts}`).join(' ')}</small></li>`,
    )
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta http-equiv="refresh" content="30">
<title>${stale ? `${stale} stale` : 'all fresh'} · Sqlitening freshness</title>
<style>
:root{--ok:#1a7f37;--stale:#cf222e;--lag:#bf8700;font:15px/1.4 system-ui,sans-serif;color:#1f2328}
body{margin:0 auto;max-width:1200px;padding:1rem}h1{font-size:1.4rem}h2{font-size:1.1rem;margin:1.2rem 0 .3rem}
.dot{display:inline-block;width:.7em;height:.7em;border-radius:50%;margin-right:.4em;background:var(--ok)}
.stale>h2 .dot,tr.stale .dot{background:var(--stale)}tr.lagging .dot{background:var(--lag)}
section.stale{border-left:4px solid var(--stale);padding-left:.6rem}section.ok{border-left:4px solid var(--ok);padding-left:.6rem}
tr.stale td{background:#ffebe9}tr.lagging td{background:#fff8c5}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #d0d7de;white-space:nowrap}
td.why,p.why{white-space:normal;color:#57606a;font-size:.9em}small{color:#57606a}code{font-size:.9em}
ul.alerts{padding-left:1.2rem}li.recovered b{color:var(--ok)}li.stale b,li.reminder b{color:var(--stale)}
</style></head><body>
<h1>Sqlitening freshness <small>${view.clusters.length} cluster(s), ${stale} stale</small></h1>
${view.clusters.map(clusterSection).join('') || '<p>No cluster has reported yet.</p>'}
<h2>Recent alerts</h2><ul class="alerts">${alerts || '<li>none</li>'}</ul>
<p><small>Dead man's switch: ${view.deadMan.lastPingAt ? `${time(view.deadMan.lastPingAt)} (${escapeHtml(view.deadMan.lastResult)})` : 'not pinged yet'} · <a href="/v1/board">JSON</a></small></p>
<script>
for (const t of document.querySelectorAll('time')) {
  const s = Math.round((Date.now() - Date.parse(t.dateTime)) / 1000);
  t.title = t.dateTime;
  t.textContent = s < 120 ? s + 's ago' : s < 7200 ? Math.round(s / 60) + 'm ago' : s < 172800 ? (s / 3600).toFixed(1) + 'h ago' : (s / 86400).toFixed(1) + 'd ago';
}
</script></body></html>`;
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
