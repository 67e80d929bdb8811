// A Node.js service's cache telemetry, as other SDKs emit it: Sentry-style cache spans and
// Micrometer-style cumulative counters, sent with OpenTelemetry JS's OTLP/HTTP (JSON) exporters.
// Prints what it did as JSON, the ground truth the test compares the tables with.
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-http');
const { PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const api = require('@opentelemetry/api');

const endpoint = process.argv[2];
const operations = Number(process.argv[3] || 500);

const sdk = new NodeSDK({
  resource: resourceFromAttributes({ 'service.name': 'node-shop' }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }),
                                          { maxQueueSize: 100000, maxExportBatchSize: 512, scheduledDelayMillis: 200 })],
  metricReader: new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ url: `${endpoint}/v1/metrics` }),  // cumulative: JS's default
    exportIntervalMillis: 500,
  }),
  instrumentations: [],
});
sdk.start();

const tracer = api.trace.getTracer('shop-cache');
const meter = api.metrics.getMeter('io.micrometer.like');
const gets = meter.createCounter('cache.gets');
const puts = meter.createCounter('cache.puts');
const store = new Map();
const done = { hits: 0, misses: 0, sets: 0 };

function get(key) {
  const span = tracer.startSpan('cache.get', { attributes: { 'cache.key': [key] } });
  const hit = store.has(key);
  span.setAttribute('cache.hit', hit);
  span.end();
  gets.add(1, { cache: 'carts', result: hit ? 'hit' : 'miss' });
  done[hit ? 'hits' : 'misses'] += 1;
  return hit;
}

function put(key) {
  const span = tracer.startSpan('cache.put', { attributes: { 'cache.key': [key] } });
  store.set(key, true);
  span.end();
  puts.add(1, { cache: 'carts' });
  done.sets += 1;
}

async function main() {
  for (let i = 0; i < operations; i++) {
    const key = `cart-${(i * 7) % 97}`;
    if (!get(key)) put(key);
    if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 150));
  }
  await sdk.shutdown();  // flushes spans and a last metric export
  process.stdout.write(JSON.stringify(done) + '\n');
}

main().catch((err) => { console.error(err); process.exit(1); });
