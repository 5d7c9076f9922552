/**
 * Prometheus metrics (prom-client): files and bytes transferred, failures by
 * reason, retries, wave latency, Lambda concurrency, and each stage's consumer
 * backlog, read from JetStream at scrape time.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { stages, type Topology } from '../streams/topology.js';

/** The metrics actors record into. */
export interface Metrics {
  readonly registry: Registry;
  readonly files: Counter<'outcome'>;
  readonly bytes: Counter;
  readonly failures: Counter<'reason'>;
  readonly retries: Counter;
  readonly throttled: Counter;
  readonly waveSeconds: Histogram;
  readonly lambdaConcurrency: Gauge<'kind'>;
  readonly classes: Counter<'status'>;
}

/** Buckets a failure message into a small, stable set of reasons (never the message itself: it may hold keys). */
export function failureReason(error: string | undefined): string {
  const e = error ?? '';
  if (/HTTP 40[4]|HTTP 410|NoSuchKey|not found/i.test(e)) return 'not_found';
  if (/HTTP 40[13]|AccessDenied/i.test(e)) return 'denied';
  if (/HTTP 429|SlowDown|TooManyRequests/i.test(e)) return 'throttled';
  if (/stalled|did not answer|timed? ?out|TimeoutError/i.test(e)) return 'timeout';
  if (/checksum|length mismatch/i.test(e)) return 'integrity';
  if (/time budget/i.test(e)) return 'budget';
  if (/not the source|outside the source|climbs|link-local|scheme|refused|not a safe relative key/i.test(e)) return 'refused';
  if (/HTTP 5\d\d|InternalError|ServiceUnavailable/i.test(e)) return 'server_error';
  if (/terminated|ECONNRESET|socket|other side closed|premature/i.test(e)) return 'connection';
  if (/wave invocation failed|function error/i.test(e)) return 'lambda';
  return 'other';
}

/** Creates the metrics of one process; `topology` and `jsm` enable the per-stage backlog gauges. */
export function createMetrics(o: { jsm?: JetStreamManager; topology?: Topology } = {}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'flants_process_' });
  const backlog = async (g: Gauge<'stage'>, field: 'num_pending' | 'num_ack_pending') => {
    if (!o.jsm || !o.topology) return;
    for (const [stage, stream, consumer] of stages(o.topology)) {
      const ci = await o.jsm.consumers.info(stream, consumer).catch(() => undefined);
      if (ci) g.set({ stage }, ci[field]);
    }
  };
  new Gauge({
    name: 'flants_consumer_pending',
    help: 'Messages waiting for each stage (JetStream consumer num_pending)',
    labelNames: ['stage'],
    registers: [registry],
    async collect() {
      await backlog(this, 'num_pending');
    },
  });
  new Gauge({
    name: 'flants_consumer_unacked',
    help: 'Messages delivered to each stage and not yet acknowledged',
    labelNames: ['stage'],
    registers: [registry],
    async collect() {
      await backlog(this, 'num_ack_pending');
    },
  });
  return {
    registry,
    files: new Counter({ name: 'flants_files_total', help: 'Files finished, by outcome (copied, unchanged, failed)', labelNames: ['outcome'], registers: [registry] }),
    bytes: new Counter({ name: 'flants_bytes_transferred_total', help: 'Bytes copied to the destination', registers: [registry] }),
    failures: new Counter({ name: 'flants_file_failures_total', help: 'Failed file attempts, by reason', labelNames: ['reason'], registers: [registry] }),
    retries: new Counter({ name: 'flants_retries_total', help: 'File attempts that failed and were scheduled again', registers: [registry] }),
    throttled: new Counter({ name: 'flants_throttled_total', help: 'Jobs sent round again because of throttling (no attempt used)', registers: [registry] }),
    waveSeconds: new Histogram({
      name: 'flants_wave_duration_seconds',
      help: 'Lambda wave latency, from invoke to results',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
      registers: [registry],
    }),
    lambdaConcurrency: new Gauge({ name: 'flants_lambda_concurrency', help: 'Lambda waves: the adaptive limit and those in flight', labelNames: ['kind'], registers: [registry] }),
    classes: new Counter({ name: 'flants_classes_total', help: 'Class runs reported, by status', labelNames: ['status'], registers: [registry] }),
  };
}

/** Serves `/metrics` on `host:port` (0 for a free port). */
export async function startMetricsServer(registry: Registry, port: number, host: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end('not found');
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}/metrics`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
