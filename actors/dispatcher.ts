/**
 * Dispatcher: batches transfer jobs into waves (the runtime's RxJS batching),
 * invokes the transfer Lambda once per wave, and turns each job's result into
 * its outcome (actors/wave-plan.ts). Results reach the aggregator before any
 * job is acked, so a crash in between only causes a harmless, idempotent
 * repeat. Throttling (Lambda 429, S3 SlowDown) lowers an adaptive concurrency
 * limit and the throttled jobs go round again, up to the policy's ceiling.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import type { FlantsConfig } from '../config/load-config.js';
import { invokeWave, waveEnds } from '../lambda/invoke-wave.js';
import type { WaveRequest } from '../lambda/wave.js';
import { describeError, isThrottle } from '../storage/errors.js';
import { startActor, type Decided, type Delivery, type Handled, type RuntimeHandle } from '../streams/actor-runtime.js';
import { fileOfPoisonJob, parseMessage, PoisonMessageError, safeJson, transferJobSchema, type FileResult, type TransferJob, type WaveEvent, type WaveResults } from '../streams/messages.js';
import { publishDurably } from '../streams/durable-publish.js';
import { policyOf } from '../streams/policy-settings.js';
import { topologyOptions } from '../streams/ensure-topology.js';
import { LaneEvents } from '../streams/lane-events.js';
import type { Lane, Topology } from '../streams/topology.js';
import { failureReason, type Metrics } from '../observability/metrics.js';
import { AdaptiveLimit, type LimitStats } from './adaptive-limit.js';
import { handOn } from './split-parts.js';
import { fileResultsOf, planJob, planUnrun, resultsMessages, type WaveJob } from './wave-plan.js';

/** What the dispatcher needs. */
export interface DispatcherDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly serverVersion?: string;
  /** For the live wave events that dashboards show; optional. */
  readonly nc?: NatsConnection;
  readonly metrics?: Metrics;
  readonly topology: Topology;
  readonly config: FlantsConfig;
  readonly logger: Logger;
  readonly lambda: LambdaClient;
  /** The record of split files' uploaded parts (streams/ensure-topology.ts openPartsKv). */
  readonly parts: KV;
}

/** Live counters, for the demo, status and tests. */
export interface DispatcherStats {
  waves: number;
  files: number;
  failedAttempts: number;
  throttledJobs: number;
  inFlightWaves: number;
  /** Files split into ranged part jobs. */
  splitFiles: number;
}

/** A running dispatcher. */
export interface DispatcherHandle extends RuntimeHandle {
  readonly dispatch: DispatcherStats;
  limit(): LimitStats;
}

/** Results per NATS message, in bytes of JSON: far under any server's max_payload (1 MiB by default). */
const RESULTS_MESSAGE_BYTES = 64 * 1024;

/** Counts one wave's reported results into the process's metrics: one update per label, not per file. */
function record(m: Metrics, decided: ReadonlyArray<Decided<WaveJob>>, results: readonly FileResult[]): void {
  let copied = 0;
  let unchanged = 0;
  let bytes = 0;
  let failed = 0;
  let retries = 0;
  const reasons = new Map<string, number>();
  for (const r of results) {
    if (r.ok) {
      if (r.unchanged) unchanged++;
      else {
        copied++;
        bytes += r.bytes;
      }
      continue;
    }
    const reason = failureReason(r.error);
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    if (r.final) failed++;
    else retries++;
  }
  if (copied) m.files.inc({ outcome: 'copied' }, copied);
  if (unchanged) m.files.inc({ outcome: 'unchanged' }, unchanged);
  if (failed) m.files.inc({ outcome: 'failed' }, failed);
  if (bytes) m.bytes.inc(bytes);
  if (retries) m.retries.inc(retries);
  for (const [reason, n] of reasons) m.failures.inc({ reason }, n);
  const throttled = decided.filter((d) => d.decision.end === 'throttle-round').length;
  if (throttled) m.throttled.inc(throttled);
}

function waveRequest(config: FlantsConfig, jobs: readonly TransferJob[]): WaveRequest {
  return {
    ...waveEnds(config),
    jobs: jobs.map((j) => ({ src: j.src, key: j.key, optional: j.optional, part: j.part, assemble: j.assemble })),
    options: config.transfer,
  };
}

/** Starts the dispatcher on its durable consumer. */
export async function startDispatcher(deps: DispatcherDeps): Promise<DispatcherHandle> {
  const logger = deps.logger.child({ actor: 'dispatcher' });
  const cfg = deps.config;
  const dispatch: DispatcherStats = { waves: 0, files: 0, failedAttempts: 0, throttledJobs: 0, inFlightWaves: 0, splitFiles: 0 };
  const limit = new AdaptiveLimit(cfg.waveConcurrency);
  /** Publishes a split file's part or assembly job in the lane (subject) its file came from. */
  const publishJobOn = (subject: string) => (job: TransferJob, msgID: string) => deps.js.publish(subject, JSON.stringify(job), { msgID });

  /** Parse: a malformed job is poison; the rest go on. */
  const parse = (d: Delivery): TransferJob | Handled<WaveJob> => {
    try {
      return parseMessage(transferJobSchema, d.msg.data, 'transfer job');
    } catch (err) {
      if (err instanceof PoisonMessageError) {
        const job = fileOfPoisonJob(d.msg.data);
        return { outcome: { kind: 'poison', reason: err.message }, detail: job && { job, poison: true } };
      }
      throw err;
    }
  };

  /** Invoke: one Lambda call for the wave; every job gets its outcome. */
  const invoke = async (jobs: TransferJob[]): Promise<Array<Handled<WaveJob>>> => {
    await limit.acquire();
    const ls = limit.stats();
    deps.metrics?.lambdaConcurrency.set({ kind: 'limit' }, ls.limit);
    deps.metrics?.lambdaConcurrency.set({ kind: 'in_flight' }, ls.inFlight);
    const endTimer = deps.metrics?.waveSeconds.startTimer();
    const waveId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    announce(waveId, jobs);
    try {
      const { results } = await invokeWave(deps.lambda, cfg.lambda.functionName, waveRequest(cfg, jobs));
      limit.release(results.some((r) => r.throttled) ? 'throttled' : 'ok');
      endTimer?.();
      return jobs.map((job, i) => planJob(job, results[i] as NonNullable<(typeof results)[number]>));
    } catch (err) {
      if (isThrottle(err)) {
        limit.release('throttled');
        logger.debug({ jobs: jobs.length, limit: limit.stats().limit }, 'Lambda throttled the wave; slowing down');
        return jobs.map((job) => ({ outcome: { kind: 'throttled', reason: describeError(err) }, detail: { job } }));
      }
      limit.release('error');
      logger.warn({ err, jobs: jobs.length }, 'wave invocation failed');
      return planUnrun(jobs, describeError(err));
    } finally {
      publishLive({ wave: waveId, state: 'end' });
    }
  };

  const handle = async (ds: readonly Delivery[]): Promise<Array<Handled<WaveJob>>> => {
    dispatch.inFlightWaves++;
    const started = Date.now();
    try {
      const parsed = ds.map(parse);
      const jobs = parsed.filter((p): p is TransferJob => !('outcome' in p));
      const ran = jobs.length > 0 ? await invoke(jobs) : [];
      let next = 0;
      const handled = parsed.map((p) => ('outcome' in p ? p : (ran[next++] as Handled<WaveJob>)));
      // A split file's parts become jobs of their own, and an uploaded part is
      // recorded (the last one queues the assembly): each is acked only once
      // what it hands on is safely queued; otherwise it comes back, free.
      if (!handled.some((h) => h.detail?.handOn)) return handled;
      return await Promise.all(
        handled.map(async (h, n) => {
          if (!h.detail?.handOn || !h.detail.r) return h;
          try {
            await handOn(deps.parts, publishJobOn((ds[n] as Delivery).msg.subject), h.detail.job, h.detail.r);
            if (h.detail.r.split) dispatch.splitFiles++;
            return h;
          } catch (err) {
            logger.warn({ err, key: h.detail.job.key }, 'could not hand on a split file; it comes back');
            return { ...h, outcome: { kind: 'crashed', reason: describeError(err) } } satisfies Handled<WaveJob>;
          }
        }),
      );
    } finally {
      dispatch.inFlightWaves--;
      logger.debug({ jobs: ds.length, ms: Date.now() - started }, 'wave done');
    }
  };

  const laneEvents = new LaneEvents(deps.topology, logger);
  /** The lane a job came in on: its results go to the aggregator in the same lane. */
  const laneOfSubject = (subject: string): Lane => (subject === deps.topology.subjects.transferBulk ? 'bulk' : 'live');

  /** Apply, first half: results reach the aggregator before any job is acked, each in its job's lane. */
  const report = async (decided: ReadonlyArray<Decided<WaveJob>>) => {
    const lanes = { live: [] as Array<Decided<WaveJob>>, bulk: [] as Array<Decided<WaveJob>> };
    for (const d of decided) lanes[laneOfSubject(d.delivery.msg.subject)].push(d);
    const results: FileResult[] = [];
    for (const lane of ['live', 'bulk'] as const) {
      const inLane = fileResultsOf(lanes[lane]);
      for (const message of resultsMessages(inLane, RESULTS_MESSAGE_BYTES)) {
        await laneEvents.publish(lane, 'results', (s) => publishDurably(deps.js, s, message));
      }
      results.push(...inLane);
    }
    if (deps.metrics) record(deps.metrics, decided, results);
    dispatch.waves++;
    let ok = 0;
    for (const r of results) if (r.ok) ok++;
    dispatch.files += ok;
    dispatch.failedAttempts += results.length - ok;
    dispatch.throttledJobs += decided.filter((d) => d.decision.end === 'throttle-round').length;
  };

  /** Tells live views which files are in flight; fire-and-forget core NATS, nothing depends on it. */
  const announce = (wave: string, jobs: readonly TransferJob[]) => {
    if (!deps.nc) return;
    const byRun = new Map<string, { c: string; r: string; i: number[] }>();
    for (const j of jobs) {
      const k = `${j.classId}\u0000${j.runId}`;
      const g = byRun.get(k) ?? { c: j.classId, r: j.runId, i: [] };
      g.i.push(j.i);
      byRun.set(k, g);
    }
    publishLive({ wave, state: 'start', files: [...byRun.values()] });
  };

  const publishLive = (event: WaveEvent) => {
    try {
      deps.nc?.publish(deps.topology.subjects.waves, JSON.stringify(event));
    } catch {
      // Disconnected: live views miss one wave, nothing else does.
    }
  };

  const actor = await startActor<WaveJob>({
    name: 'dispatcher',
    js: deps.js,
    jsm: deps.jsm,
    topology: deps.topology,
    serverVersion: deps.serverVersion,
    stream: deps.topology.streams.work,
    consumer: deps.topology.consumers.dispatcher,
    lowPriorityConsumer: deps.topology.consumers.dispatcherBulk,
    logger,
    policy: policyOf(cfg),
    topologyOptions: topologyOptions(cfg),
    concurrency: cfg.waveConcurrency,
    maxHeld: cfg.batchSize * cfg.waveConcurrency,
    batch: { size: cfg.batchSize, maxWaitMs: cfg.batchWaitMs },
    handle,
    report,
    exhausted: async (m) => {
      const job = transferJobSchema.safeParse(safeJson(m.data));
      if (!job.success) return;
      const r: FileResult = {
        classId: job.data.classId,
        runId: job.data.runId,
        i: job.data.i,
        key: job.data.key,
        ok: false,
        bytes: 0,
        attempt: m.deliveries,
        final: true,
        error: `delivered ${m.deliveries} times without an outcome (redelivery cap)`,
      };
      await laneEvents.publish(laneOfSubject(m.subject), 'results', (s) => deps.js.publish(s, JSON.stringify({ results: [r] } satisfies WaveResults)));
    },
  });
  return Object.assign(actor, { dispatch, limit: () => limit.stats() });
}
