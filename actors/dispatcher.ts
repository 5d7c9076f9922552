/**
 * Dispatcher: pulls transfer jobs, batches them into waves with RxJS, invokes
 * the transfer Lambda once per wave, and ends every job's message by its own
 * result. Results reach the aggregator (one message per wave) before any job
 * is acked, so a crash in between only causes a harmless, idempotent repeat.
 * Throttling (Lambda 429, S3 SlowDown) lowers an adaptive concurrency limit
 * and the throttled jobs go round again in-process, using up no attempt.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';
import { merge, mergeMap, Observable, Subject } from 'rxjs';
import type { FlantsConfig } from '../config/load-config.js';
import { invokeWave, waveEnds } from '../lambda/invoke-wave.js';
import type { JobResult, SplitPlan, WaveRequest } from '../lambda/wave.js';
import { describeError, isThrottle } from '../storage/errors.js';
import type { ActorHandle } from '../streams/consume-loop.js';
import { deadLetter } from '../streams/dead-letter.js';
import { pullMessages } from '../streams/pull-messages.js';
import {
  parseMessage,
  PoisonMessageError,
  transferJobSchema,
  type FileResult,
  type TransferJob,
  type WaveEvent,
  type WaveResults,
} from '../streams/messages.js';
import type { Topology } from '../streams/topology.js';
import { failureReason, type Metrics } from '../observability/metrics.js';
import { AdaptiveLimit, type LimitStats } from './adaptive-limit.js';
import { recordPart } from './split-parts.js';
import { intoWaves, settle } from './wave-batching.js';

/** What the dispatcher needs. */
export interface DispatcherDeps {
  readonly js: JetStreamClient;
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
export interface DispatcherHandle extends ActorHandle {
  readonly stats: DispatcherStats;
  limit(): LimitStats;
}

/** A counting semaphore: bounds jobs pulled but not yet settled. */
class Slots {
  private waiters: Array<() => void> = [];
  constructor(private free: number) {}
  room(): number {
    return this.free - this.waiters.length;
  }
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  give(n = 1): void {
    for (let i = 0; i < n; i++) {
      const w = this.waiters.shift();
      if (w) w();
      else this.free++;
    }
  }
}

/** The first throttled retry waits this long; each further one for the same job doubles it, to 10 s. */
const THROTTLE_BASE_MS = 250;
const THROTTLE_MAX_MS = 10_000;

/** Counts one wave's outcomes into the process's metrics. */
function record(m: Metrics, results: readonly FileResult[], actions: readonly string[]): void {
  results.forEach((r, i) => {
    if (r.ok) {
      m.files.inc({ outcome: r.unchanged ? 'unchanged' : 'copied' });
      if (!r.unchanged) m.bytes.inc(r.bytes);
      return;
    }
    m.failures.inc({ reason: failureReason(r.error) });
    if (actions[i] === 'nak') m.retries.inc();
    else m.files.inc({ outcome: 'failed' });
  });
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
  const stats: DispatcherStats = { waves: 0, files: 0, failedAttempts: 0, throttledJobs: 0, inFlightWaves: 0, splitFiles: 0 };
  const consumer = await deps.js.consumers.get(deps.topology.streams.work, deps.topology.consumers.dispatcher);
  const slots = new Slots(cfg.batchSize * cfg.waveConcurrency);
  const messages = pullMessages(consumer, { maxMessages: cfg.batchSize * 2, room: () => slots.room(), logger });
  const limit = new AdaptiveLimit(cfg.waveConcurrency);
  // Every message pulled and not yet settled, with how often it was throttled.
  const held = new Map<JsMsg, number>();
  const retry$ = new Subject<JsMsg>();
  let pulling = true;
  let pendingRetries = 0;

  // Held jobs (waiting in a wave, or for a throttled retry) must not time out.
  const keepAlive = setInterval(() => held.forEach((_, m) => m.working()), Math.max(500, cfg.ackWaitMs / 3));

  const pulled$ = new Observable<JsMsg>((subscriber) => {
    void (async () => {
      // After stop(), the last fetch still yields what it received, then ends; all of it is finished.
      for await (const msg of messages) {
        await slots.take();
        held.set(msg, 0);
        subscriber.next(msg);
      }
      pulling = false;
      subscriber.complete();
      maybeComplete();
    })().catch((err) => subscriber.error(err));
  });

  const maybeComplete = () => {
    if (!pulling && pendingRetries === 0 && held.size === 0) retry$.complete();
  };

  const release = (msg: JsMsg) => {
    held.delete(msg);
    slots.give();
    maybeComplete();
  };

  /** Sends a throttled job round again after a growing delay; its attempt count is untouched. */
  const requeue = (msg: JsMsg) => {
    const n = (held.get(msg) ?? 0) + 1;
    held.set(msg, n);
    stats.throttledJobs++;
    deps.metrics?.throttled.inc();
    pendingRetries++;
    const delay = Math.min(THROTTLE_MAX_MS, THROTTLE_BASE_MS * 2 ** (n - 1)) * (0.5 + Math.random());
    setTimeout(() => {
      pendingRetries--;
      retry$.next(msg);
    }, delay).unref();
  };

  const runWave = async (msgs: JsMsg[]): Promise<void> => {
    stats.inFlightWaves++;
    const valid: Array<{ msg: JsMsg; job: TransferJob }> = [];
    try {
      for (const msg of msgs) {
        try {
          valid.push({ msg, job: parseMessage(transferJobSchema, msg.data, 'transfer job') });
        } catch (err) {
          if (!(err instanceof PoisonMessageError)) throw err;
          await deadLetter({ ...deps, logger }, 'dispatcher', msg, err.message);
          release(msg);
        }
      }
      if (valid.length === 0) return;
      let results: JobResult[];
      const started = Date.now();
      await limit.acquire();
      const ls = limit.stats();
      deps.metrics?.lambdaConcurrency.set({ kind: 'limit' }, ls.limit);
      deps.metrics?.lambdaConcurrency.set({ kind: 'in_flight' }, ls.inFlight);
      const endTimer = deps.metrics?.waveSeconds.startTimer();
      const waveId = `${started.toString(36)}${Math.random().toString(36).slice(2, 6)}`;
      announce(waveId, valid.map((v) => v.job));
      try {
        results = (await invokeWave(deps.lambda, cfg.lambda.functionName, waveRequest(cfg, valid.map((v) => v.job)))).results;
        limit.release(results.some((r) => r.throttled) ? 'throttled' : 'ok');
        endTimer?.();
        publishLive({ wave: waveId, state: 'end' });
      } catch (err) {
        publishLive({ wave: waveId, state: 'end' });
        if (isThrottle(err)) {
          limit.release('throttled');
          logger.debug({ jobs: valid.length, limit: limit.stats().limit }, 'Lambda throttled the wave; slowing down');
          valid.forEach(({ msg }) => requeue(msg));
          return;
        }
        limit.release('error');
        // The wave never ran (unreachable, crashed): every job gets this attempt's error.
        const error = `wave invocation failed: ${describeError(err)}`;
        logger.warn({ err, jobs: valid.length }, 'wave invocation failed');
        results = valid.map(() => ({ ok: false, bytes: 0, ms: 0, error, retryable: true }));
      }
      const settled = valid
        .map((v, i) => ({ ...v, r: results[i] as JobResult }))
        .filter(({ msg, r }) => {
          if (!r.throttled) return true;
          requeue(msg);
          return false;
        });
      // A split file's parts become jobs of their own, and an uploaded part is
      // recorded (the last one queues the assembly): neither is the file's
      // outcome yet, so the aggregator hears nothing. Each is acked once what
      // it hands on is safely queued.
      const handedOn = settled.filter(({ r }) => r.ok && (r.split || r.part));
      await Promise.all(handedOn.flatMap(({ job, r }): Array<Promise<unknown>> => (r.split ? queueParts(job, r.split) : [handOnPart(job, r)])));
      const reported = settled.filter((x) => !handedOn.includes(x));
      for (const { msg } of handedOn) {
        msg.ack();
        release(msg);
      }
      const settlements = reported.map(({ msg, r }) => settle(r, msg.info.deliveryCount, cfg.maxAttempts, cfg.retryBackoffMs));
      const fileResults: FileResult[] = reported.map(({ msg, job, r }, i) => ({
        classId: job.classId,
        runId: job.runId,
        i: job.i,
        key: job.key,
        ok: r.ok,
        bytes: r.bytes,
        etag: r.etag,
        attempt: msg.info.deliveryCount,
        final: settlements[i]?.action !== 'nak',
        error: r.ok ? undefined : `${job.part ? `part ${job.part.n}/${job.part.count}: ` : ''}${r.error ?? 'unknown error'}`,
        note: r.skipped,
        unchanged: r.unchanged,
      }));
      if (fileResults.length > 0) {
        const body: WaveResults = { results: fileResults };
        // Results first, then acks: if we die in between, jobs are redone and the aggregator dedupes.
        await deps.js.publish(deps.topology.subjects.results, JSON.stringify(body));
      }
      if (deps.metrics) record(deps.metrics, fileResults, settlements.map((x) => x.action));
      reported.forEach(({ msg }, i) => {
        const s = settlements[i];
        if (s?.action === 'ack') msg.ack();
        else if (s?.action === 'nak') msg.nak(s.delayMs);
        else msg.term('failed after final attempt');
        release(msg);
      });
      stats.waves++;
      stats.files += fileResults.filter((r) => r.ok).length;
      stats.splitFiles += handedOn.filter(({ r }) => r.split).length;
      stats.failedAttempts += fileResults.filter((r) => !r.ok).length;
      logger.debug({ jobs: valid.length, ms: Date.now() - started }, 'wave done');
    } catch (err) {
      // Could not publish results: leave nothing acked; the jobs come back after a short delay.
      logger.error({ err }, 'wave could not be settled; its jobs will be redelivered');
      for (const { msg } of valid) {
        if (!held.has(msg)) continue;
        msg.nak(2_000);
        release(msg);
      }
    } finally {
      stats.inFlightWaves--;
    }
  };

  /** Queues one job per ranged part of a split file, deduplicated per upload and part. */
  const queueParts = (job: TransferJob, plan: SplitPlan) =>
    plan.parts.map((p) => {
      const part: TransferJob = {
        ...job,
        part: { uploadId: plan.uploadId, n: p.n, count: plan.parts.length, start: p.start, end: p.end, size: plan.size, version: plan.version },
      };
      return deps.js.publish(deps.topology.subjects.transfer, JSON.stringify(part), { msgID: `p:${job.runId}:${job.i}:${p.n}:${plan.uploadId}` });
    });

  /** Records an uploaded part; queues the file's assembly once every part is in. */
  const handOnPart = async (job: TransferJob, r: JobResult) => {
    if (!job.part || !r.part) return;
    const assembly = await recordPart(deps.parts, job.runId, job.i, job.part, r.part.etag);
    if (!assembly) return;
    const { part: _part, ...file } = job;
    await deps.js.publish(deps.topology.subjects.transfer, JSON.stringify({ ...file, assemble: { ...assembly, parts: [...assembly.parts] } } satisfies TransferJob), {
      msgID: `a:${job.runId}:${job.i}:${assembly.uploadId}`,
    });
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

  const closed = new Promise<void>((resolve, reject) => {
    merge(pulled$, retry$)
      .pipe(intoWaves<JsMsg>(cfg.batchSize, cfg.batchWaitMs), mergeMap((wave) => runWave(wave), cfg.waveConcurrency))
      .subscribe({ complete: resolve, error: reject });
  }).finally(() => clearInterval(keepAlive));

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      messages.stop();
      await closed;
    })();
    return stopped;
  };
  return { name: 'dispatcher', stats, limit: () => limit.stats(), stop, closed, [Symbol.asyncDispose]: stop };
}
