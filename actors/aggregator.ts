/**
 * Aggregator: folds per-file results into per-class bit fields kept in
 * JetStream KV, so progress survives restarts and replicas share it (writes are
 * compare-and-set). When every file of a class run has succeeded or used up its
 * attempts, it writes the report and publishes exactly one `class.transferred`.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { FlantsConfig } from '../config/load-config.js';
import { redactUri } from '../storage/source-root.js';
import { startActor, type Delivery, type Handled, type RuntimeHandle } from '../streams/actor-runtime.js';
import { publishDurably } from '../streams/durable-publish.js';
import { policyOf } from '../streams/policy-settings.js';
import { topologyOptions } from '../streams/ensure-topology.js';
import {
  classCrawledSchema,
  classDetailsSchema,
  classFailedSchema,
  type ClassDetails,
  parseMessage,
  PoisonMessageError,
  waveResultsSchema,
} from '../streams/messages.js';
import type { Topology } from '../streams/topology.js';
import type { Metrics } from '../observability/metrics.js';
import { applyOp, ClassProgress, type ClassStateJson, type ProgressOp } from '../tracking/class-progress.js';
import { buildReport, buildTransferredEvent, reportKeyFor } from '../tracking/class-report.js';
import { keysUnder, purgeKey } from '../tracking/kv-keys.js';
import { detailRecords, purgeDetails, readDetails } from '../tracking/run-details.js';
import { lastRunKey, openRunKey, runStateKey, type RunPointer } from '../tracking/run-keys.js';

/** Everything the aggregator folds in: progress ops, and pieces of a run's long lists. */
type AggregatorOp = ProgressOp | { readonly kind: 'details'; readonly m: ClassDetails };

/** What the aggregator needs. */
export interface AggregatorDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly serverVersion?: string;
  readonly kv: KV;
  readonly topology: Topology;
  readonly config: FlantsConfig;
  readonly logger: Logger;
  /** Destination S3, for reports. */
  readonly dest: S3Client;
  readonly metrics?: Metrics;
  /** How often unreported finished runs are looked for (a crash between finishing and reporting). */
  readonly sweepIntervalMs?: number;
  /** How long a run may have results and no crawl before it is reported failed (ORPHAN_AFTER_MS; shorter in tests). */
  readonly orphanAfterMs?: number;
}

/** A running aggregator; `progress()` lists the classes it holds in memory. */
export interface AggregatorHandle extends RuntimeHandle {
  progress(): ClassProgress[];
}

const CAS_RETRIES = 8;
/**
 * A run with results and no crawl for this long is reported failed. The crawl
 * event is published before any of its class's jobs, and served first, so it
 * is never that late: it was lost (a review: one too large to publish left its
 * class open for good), or the results name a run that never existed.
 */
const ORPHAN_AFTER_MS = 3_600_000;

/** Starts the aggregator on its durable consumer. */
export async function startAggregator(deps: AggregatorDeps): Promise<AggregatorHandle> {
  const logger = deps.logger.child({ actor: 'aggregator' });
  const cfg = deps.config;
  // Keyed by the run's KV key: every trigger is a run of its own.
  const cache = new Map<string, { p: ClassProgress; revision: number }>();

  const load = async (key: string): Promise<{ p?: ClassProgress; revision: number }> => {
    const hit = cache.get(key);
    if (hit) return hit;
    const e = await deps.kv.get(key);
    return e && e.operation === 'PUT' && e.length > 0
      ? { p: ClassProgress.fromJSON(e.json<ClassStateJson>()), revision: e.revision }
      : { revision: 0 };
  };

  /** Applies `ops` to one run and persists with compare-and-set, re-reading on conflict. */
  const commit = async (key: string, ops: ProgressOp[]): Promise<{ p: ClassProgress; justFinished: boolean }> => {
    for (let attempt = 0; ; attempt++) {
      const base = attempt === 0 ? await load(key) : await (cache.delete(key), load(key));
      // Work on a copy, so that a lost compare-and-set leaves the cached state as it was.
      const snapshot = base.p?.toJSON();
      const before = snapshot ? JSON.stringify(snapshot) : '';
      const wasFinished = base.p?.finished ?? false;
      const now = new Date().toISOString();
      let p: ClassProgress | undefined = snapshot ? ClassProgress.fromJSON(snapshot) : undefined;
      for (const op of ops) p = applyOp(p, op, now);
      const next = p as ClassProgress;
      const after = JSON.stringify(next.toJSON());
      if (after === before) return { p: next, justFinished: false };
      try {
        if (base.revision === 0) {
          // Marked open before it exists: the sweep finds every run that is not reported.
          await deps.kv.put(openRunKey(next.classId, next.runId), JSON.stringify({ classId: next.classId, runId: next.runId } satisfies RunPointer));
        }
        const revision = base.revision === 0 ? await deps.kv.create(key, after) : await deps.kv.update(key, after, base.revision);
        cache.set(key, { p: next, revision });
        return { p: next, justFinished: next.finished && !wasFinished };
      } catch (err) {
        if (attempt >= CAS_RETRIES) throw err;
        logger.debug({ err, key }, 'run state changed underneath; re-reading');
      }
    }
  };

  // Runs being reported by this process: the sweep and the handler never report one at the same time.
  const finalizing = new Set<string>();

  /** Reports a run once: skipped when it is being reported here, or already reported (another replica). */
  const finalize = async (p: ClassProgress) => {
    const key = runStateKey(p.classId, p.runId);
    if (finalizing.has(key)) return;
    finalizing.add(key);
    try {
      cache.delete(key);
      const fresh = await load(key);
      if (fresh.p?.reported) return;
      await report(fresh.p ?? p);
    } finally {
      finalizing.delete(key);
    }
  };

  /** Writes the report, publishes the event (deduped by run), and marks the run reported. */
  const report = async (p: ClassProgress) => {
    const reportKey = reportKeyFor(cfg.dest.prefix, cfg.reportPrefix, p.classId, p.runId);
    const details = await readDetails(deps.kv, deps.jsm, deps.topology.kv.classes, p.classId, p.runId);
    const report = buildReport(
      p,
      {
        source: cfg.source.kind === 's3' ? `s3://${cfg.source.bucket}/${cfg.source.prefix}` : redactUri(cfg.source.root),
        dest: `s3://${cfg.dest.bucket}/${cfg.dest.prefix}`,
      },
      details,
    );
    await deps.dest.send(
      new PutObjectCommand({
        Bucket: cfg.dest.bucket,
        Key: reportKey,
        Body: JSON.stringify(report, null, 2),
        ContentType: 'application/json',
      }),
    );
    const event = buildTransferredEvent(p, reportKey, details);
    const ack = await publishDurably(deps.js, deps.topology.subjects.transferred, JSON.stringify(event), { msgID: `transferred:${p.runId}` });
    if (!ack.duplicate) deps.metrics?.classes.inc({ status: event.status });
    const key = runStateKey(p.classId, p.runId);
    for (let attempt = 0; attempt <= CAS_RETRIES; attempt++) {
      cache.delete(key);
      const cur = await load(key);
      if (!cur.p || cur.p.reported) break;
      cur.p.reported = true;
      cur.p.reportKey = reportKey;
      try {
        await deps.kv.update(key, JSON.stringify(cur.p.toJSON()), cur.revision);
        break;
      } catch (err) {
        if (attempt === CAS_RETRIES) throw err;
      }
    }
    cache.delete(key); // finished runs leave memory; KV keeps them
    await pointLast(p, event.status, reportKey);
    await purgeKey(deps.jsm, deps.topology.kv.classes, openRunKey(p.classId, p.runId));
    await purgeDetails(deps.jsm, deps.topology.kv.classes, p.classId, p.runId).catch((err) => logger.warn({ err }, 'could not purge run details'));
    logger.info(
      { classId: p.classId, runId: p.runId, status: event.status, files: event.files, bytes: event.bytes, failed: p.failedCount },
      'class transferred',
    );
  };

  /** Records the class's last reported run, never moving it back to an older run reported late. */
  const pointLast = async (p: ClassProgress, status: string, reportKey: string) => {
    const key = lastRunKey(p.classId);
    const value = JSON.stringify({ classId: p.classId, runId: p.runId, status, reportKey, startedAt: p.startedAt } satisfies RunPointer);
    for (let attempt = 0; attempt <= CAS_RETRIES; attempt++) {
      const e = await deps.kv.get(key);
      const cur = e && e.operation === 'PUT' && e.length > 0 ? e.json<RunPointer>() : undefined;
      if (cur?.startedAt && cur.startedAt > p.startedAt) return;
      try {
        if (e) await deps.kv.update(key, value, e.revision);
        else await deps.kv.create(key, value);
        return;
      } catch (err) {
        if (attempt === CAS_RETRIES) throw err;
      }
    }
  };

  /** Parses one message into ops; poison throws PoisonMessageError. */
  const { subjects } = deps.topology;
  const opsOf = (msg: JsMsg): AggregatorOp[] => {
    if (msg.subject === subjects.crawled || msg.subject === subjects.crawledBulk) {
      return [{ kind: 'crawled', m: parseMessage(classCrawledSchema, msg.data, 'class crawled') }];
    }
    if (msg.subject === subjects.classFailed || msg.subject === subjects.classFailedBulk) {
      return [{ kind: 'failed', m: parseMessage(classFailedSchema, msg.data, 'class failed') }];
    }
    if (msg.subject === subjects.results || msg.subject === subjects.resultsBulk) {
      return parseMessage(waveResultsSchema, msg.data, 'wave results').results.map((m) => ({ kind: 'result', m }) as const);
    }
    if (msg.subject === subjects.details || msg.subject === subjects.detailsBulk) {
      return [{ kind: 'details', m: parseMessage(classDetailsSchema, msg.data, 'class details') }];
    }
    throw new PoisonMessageError(`unexpected subject ${msg.subject}`);
  };

  /** Folds a batch into class states (one compare-and-set write per class), then reports finished runs. */
  const handle = async (batch: readonly Delivery[]): Promise<Array<Handled<never>>> => {
    const byRun = new Map<string, ProgressOp[]>();
    const records: Array<[run: string, key: string, value: string]> = [];
    const verdicts: Array<Handled<never>> = batch.map(({ msg }) => {
      try {
        for (const op of opsOf(msg)) {
          const key = runStateKey(op.m.classId, op.m.runId);
          for (const r of detailRecords(op)) records.push([key, ...r]);
          if (op.kind === 'details') continue;
          const list = byRun.get(key) ?? [];
          list.push(op);
          byRun.set(key, list);
        }
        return { outcome: { kind: 'ok' } };
      } catch (err) {
        if (err instanceof PoisonMessageError) return { outcome: { kind: 'poison', reason: err.message } };
        throw err;
      }
    });
    const finished: ClassProgress[] = [];
    try {
      // Details first: a run may finish in this batch, and its report reads them.
      // A run already reported takes none: nothing would ever purge them.
      const reported = new Set<string>();
      for (const run of new Set(records.map(([run]) => run))) if ((await load(run)).p?.reported) reported.add(run);
      const wanted = records.filter(([run]) => !reported.has(run));
      for (let i = 0; i < wanted.length; i += 64) {
        await Promise.all(wanted.slice(i, i + 64).map(([, k, v]) => deps.kv.put(k, v)));
      }
      const entries = [...byRun.entries()];
      for (let i = 0; i < entries.length; i += 16) {
        const out = await Promise.all(entries.slice(i, i + 16).map(([key, ops]) => commit(key, ops)));
        for (const o of out) if (o.justFinished) finished.push(o.p);
      }
    } catch (err) {
      // Nothing is acked: the batch comes back and re-applies idempotently.
      for (const k of byRun.keys()) cache.delete(k);
      throw err;
    }
    for (const p of finished) {
      try {
        await finalize(p);
      } catch (err) {
        logger.error({ err, classId: p.classId }, 'could not report class; will retry on next sweep');
      }
    }
    return verdicts;
  };

  const upSince = Date.now();
  /** Reports runs that finished but were never reported (a crash between the two): reads only open runs. */
  const sweep = async () => {
    for (const key of await keysUnder(deps.jsm, deps.topology.kv.classes, 'open.')) {
      const e = await deps.kv.get(key);
      if (!e || e.operation !== 'PUT' || e.length === 0) continue;
      const run = e.json<RunPointer>();
      const state = await deps.kv.get(runStateKey(run.classId, run.runId));
      if (!state || state.operation !== 'PUT' || state.length === 0) continue;
      const p = ClassProgress.fromJSON(state.json<ClassStateJson>());
      if (p.finished && !p.reported) await finalize(p).catch((err) => logger.error({ err, classId: p.classId }, 'sweep: report failed'));
      else if (p.reported) await purgeKey(deps.jsm, deps.topology.kv.classes, key);
      else if (p.total === null) await failIfOrphaned(p).catch((err) => logger.error({ err, classId: p.classId }, 'sweep: could not report a run with no crawl'));
    }
  };

  /** Reports failed a run that has had results and no crawl for ORPHAN_AFTER_MS (checked again on its latest state). */
  const failIfOrphaned = async (p: ClassProgress) => {
    const orphanAfterMs = deps.orphanAfterMs ?? ORPHAN_AFTER_MS;
    // Not before this process has read its queue that long: after an outage, the crawl may be waiting in it.
    if (Date.now() - upSince < orphanAfterMs) return;
    const before = new Date(Date.now() - orphanAfterMs).toISOString();
    if (p.updatedAt > before) return;
    const { p: failed, justFinished } = await commit(runStateKey(p.classId, p.runId), [{ kind: 'orphaned', m: { classId: p.classId, runId: p.runId, before } }]);
    if (!justFinished) return;
    logger.warn({ classId: p.classId, runId: p.runId, reason: failed.reason }, 'run has results but no crawl: reported failed');
    await finalize(failed);
  };

  await sweep();
  let sweeping = false; // never two sweeps at once
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void sweep()
      .catch((err) => logger.error({ err }, 'sweep failed'))
      .finally(() => (sweeping = false));
  }, deps.sweepIntervalMs ?? 60_000);
  sweeper.unref();
  const actor = await startActor<never>({
    name: 'aggregator',
    js: deps.js,
    jsm: deps.jsm,
    topology: deps.topology,
    serverVersion: deps.serverVersion,
    stream: deps.topology.streams.events,
    consumer: deps.topology.consumers.aggregator,
    // A scan's events: taken only while the live lane's have none waiting, so a new recording is reported first.
    lowPriorityConsumer: deps.topology.consumers.aggregatorBulk,
    logger,
    policy: policyOf(cfg),
    topologyOptions: topologyOptions(cfg),
    // One batch at a time: batches grow with load, and each costs one KV write per class it touches.
    concurrency: 1,
    maxHeld: 4_000,
    batch: { size: 2_000, maxWaitMs: 50 },
    handle,
  });
  void actor.closed.finally(() => clearInterval(sweeper));
  return Object.assign(actor, { progress: () => [...cache.values()].map((c) => c.p) });
}
