// prom-client's CPU counters (its defaultMetrics) read the active trace span only when a metric asks for
// exemplars, which the agent's do not; the OpenTelemetry API it requires for that (some 50 modules, about
// 0.5 MiB of heap) is loaded on that first read instead of with the metrics.
let api;
const load = () => {
  api ??= require('@opentelemetry/api');
  return api;
};
module.exports = {
  get trace() {
    return load().trace;
  },
  get context() {
    return load().context;
  },
};
