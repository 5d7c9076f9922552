/**
 * Dispatcher: pulls transfer jobs, batches them into waves with RxJS, invokes
 * the transfer Lambda once per wave, and ends every job's message by its own
 * result. Results reach the aggregator (one message per wave) before any job
 * is acked, so a crash in between only causes a harmless, idempotent repeat.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { Logger } from 'pino';
import { mergeMap, Observable } from 'rxjs';
import type { FlantsConfig } from '../config/load-config.js';
import { invokeWave } from '../lambda/invoke-wave.js';
import type { JobResult, WaveRequest } from '../lambda/wave.js';
import { describeError } from '../storage/errors.js';
import type { ActorHandle } from '../streams/consume-loop.js';
import { deadLetter } from '../streams/dead-letter.js';
import {
  parseMessage,
  PoisonMessageError,
  transferJobSchema,
  type FileResult,
  type TransferJob,
  type WaveResults,
} from '../streams/messages.js';
import type { Topology } from '../streams/topology.js';
import { intoWaves, settle } from './wave-batching.js';

/** What the dispatcher needs. */
export interface DispatcherDeps {
  readonly js: JetStreamClient;
  readonly topology: Topology;
  readonly config: FlantsConfig;
  readonly logger: Logger;
  readonly lambda: LambdaClient;
}

/** Live counters, for the demo, status and tests. */
export interface DispatcherStats {
  waves: number;
  files: number;
  failedAttempts: number;
  inFlightWaves: number;
}

/** A running dispatcher. */
export interface DispatcherHandle extends ActorHandle {
  readonly stats: DispatcherStats;
}

/** A counting semaphore: bounds jobs pulled but not yet settled. */
class Slots {
  private waiters: Array<() => void> = [];
  constructor(private free: number) {}
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

function waveRequest(config: FlantsConfig, jobs: readonly TransferJob[]): WaveRequest {
  return {
    source: {
      location: config.source,
      allow: config.sourceAllow,
      endpoint: config.sourceS3.endpoint,
      region: config.sourceS3.region,
      forcePathStyle: config.sourceS3.forcePathStyle,
    },
    dest: { location: config.dest, endpoint: config.destS3.endpoint, region: config.destS3.region, forcePathStyle: config.destS3.forcePathStyle },
    jobs: jobs.map((j) => ({ src: j.src, key: j.key, optional: j.optional })),
    options: config.transfer,
  };
}

/** Starts the dispatcher on its durable consumer. */
export async function startDispatcher(deps: DispatcherDeps): Promise<DispatcherHandle> {
  const logger = deps.logger.child({ actor: 'dispatcher' });
  const cfg = deps.config;
  const stats: DispatcherStats = { waves: 0, files: 0, failedAttempts: 0, inFlightWaves: 0 };
  const consumer = await deps.js.consumers.get(deps.topology.streams.work, deps.topology.consumers.dispatcher);
  const messages = await consumer.consume({ max_messages: cfg.batchSize * 2 });
  const slots = new Slots(cfg.batchSize * cfg.waveConcurrency);

  const jobs$ = new Observable<JsMsg>((subscriber) => {
    void (async () => {
      // After stop(), the iterator still yields what was already buffered and
      // then ends: those messages are delivered to us, so we finish them rather
      // than nak them (a nak'd message can be redelivered to this client's
      // now-dead pull request and sit there until ack_wait expires).
      for await (const msg of messages) {
        await slots.take();
        subscriber.next(msg);
      }
      subscriber.complete();
    })().catch((err) => subscriber.error(err));
  });

  const runWave = async (msgs: JsMsg[]): Promise<void> => {
    stats.inFlightWaves++;
    const keepAlive = setInterval(() => msgs.forEach((m) => m.working()), Math.max(1_000, cfg.ackWaitMs / 3));
    const valid: Array<{ msg: JsMsg; job: TransferJob }> = [];
    try {
      for (const msg of msgs) {
        try {
          valid.push({ msg, job: parseMessage(transferJobSchema, msg.data, 'transfer job') });
        } catch (err) {
          if (!(err instanceof PoisonMessageError)) throw err;
          await deadLetter({ ...deps, logger }, 'dispatcher', msg, err.message);
          slots.give();
        }
      }
      if (valid.length === 0) return;
      let results: JobResult[];
      const started = Date.now();
      try {
        results = (await invokeWave(deps.lambda, cfg.lambda.functionName, waveRequest(cfg, valid.map((v) => v.job)))).results;
      } catch (err) {
        // The wave never ran (throttled, unreachable, crashed): every job gets this attempt's error.
        const error = `wave invocation failed: ${describeError(err)}`;
        logger.warn({ err, jobs: valid.length }, 'wave invocation failed');
        results = valid.map(() => ({ ok: false, bytes: 0, ms: 0, error, retryable: true }));
      }
      const settlements = valid.map(({ msg }, i) => settle(results[i] as JobResult, msg.info.deliveryCount, cfg.maxAttempts, cfg.retryBackoffMs));
      const fileResults: FileResult[] = valid.map(({ msg, job }, i) => {
        const r = results[i] as JobResult;
        return {
          classId: job.classId,
          runId: job.runId,
          i: job.i,
          key: job.key,
          ok: r.ok,
          bytes: r.bytes,
          etag: r.etag,
          attempt: msg.info.deliveryCount,
          final: settlements[i]?.action !== 'nak',
          error: r.ok ? undefined : (r.error ?? 'unknown error'),
          note: r.skipped,
        };
      });
      const body: WaveResults = { results: fileResults };
      // Results first, then acks: if we die in between, jobs are redone and the aggregator dedupes.
      await deps.js.publish(deps.topology.subjects.results, JSON.stringify(body));
      valid.forEach(({ msg }, i) => {
        const s = settlements[i];
        if (s?.action === 'ack') msg.ack();
        else if (s?.action === 'nak') msg.nak(s.delayMs);
        else msg.term('failed after final attempt');
      });
      stats.waves++;
      stats.files += fileResults.filter((r) => r.ok).length;
      stats.failedAttempts += fileResults.filter((r) => !r.ok).length;
      logger.debug({ jobs: valid.length, ms: Date.now() - started }, 'wave done');
      slots.give(valid.length);
    } catch (err) {
      // Could not publish results: leave nothing acked; the jobs come back after a short delay.
      logger.error({ err }, 'wave could not be settled; its jobs will be redelivered');
      valid.forEach(({ msg }) => msg.nak(2_000));
      slots.give(valid.length);
    } finally {
      clearInterval(keepAlive);
      stats.inFlightWaves--;
    }
  };

  const closed = new Promise<void>((resolve, reject) => {
    jobs$
      .pipe(intoWaves<JsMsg>(cfg.batchSize, cfg.batchWaitMs), mergeMap((wave) => runWave(wave), cfg.waveConcurrency))
      .subscribe({ complete: resolve, error: reject });
  });

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      messages.stop();
      await closed;
    })();
    return stopped;
  };
  return { name: 'dispatcher', stats, stop, closed, [Symbol.asyncDispose]: stop };
}
