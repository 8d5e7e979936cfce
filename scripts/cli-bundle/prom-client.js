// What the agent's metrics take from prom-client (src/agent/metrics.ts), from the modules that define them. The
// package's main module also loads what the agent never uses and would keep for its life: histograms and summaries
// (with a t-digest), the Pushgateway client (with Node's HTTPS and TLS) and the cluster aggregator. The package has
// no `exports` map, so these paths are its public files; its version is pinned in package.json, and the metrics
// tests scrape the CLI's /metrics.
export { default as Registry } from 'prom-client/lib/registry.js';
export { default as Counter } from 'prom-client/lib/counter.js';
export { default as Gauge } from 'prom-client/lib/gauge.js';
export { default as collectDefaultMetrics } from 'prom-client/lib/defaultMetrics.js';
