/**
 * Scanner: turns `class.recorded` triggers into crawl jobs. It validates the
 * payload (poison messages are dead-lettered), checks that the entry playlist
 * exists, and reports a class that cannot start as failed, so that every
 * announced class ends with an outcome.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { FlantsConfig } from '../config/load-config.js';
import { describeError, isPermanent, RefusedUriError } from '../storage/errors.js';
import type { SourceReader } from '../storage/source-reader.js';
import type { SourceRoot } from '../storage/source-root.js';
import { startConsumeLoop, type ActorHandle } from '../streams/consume-loop.js';
import { deadLetter } from '../streams/dead-letter.js';
import { parseClassRecorded, PoisonMessageError, publishClassFailed, type CrawlJob } from '../streams/messages.js';
import { runIdOf } from '../streams/run-id.js';
import type { Topology } from '../streams/topology.js';

/** What the scanner needs. */
export interface ScannerDeps {
  readonly js: JetStreamClient;
  readonly topology: Topology;
  readonly config: FlantsConfig;
  readonly logger: Logger;
  readonly reader: SourceReader;
  readonly root: SourceRoot;
}

/** Builds the entry-playlist path for a class from the configured template. */
export function manifestFor(template: string, classId: string): string {
  return template.replaceAll('{classId}', encodeURIComponent(classId));
}

/** Starts the scanner on its durable consumer. */
export async function startScanner(deps: ScannerDeps): Promise<ActorHandle> {
  const logger = deps.logger.child({ actor: 'scanner' });
  const { subjects } = deps.topology;

  const fail = (job: CrawlJob, reason: string) => publishClassFailed(deps.js, subjects.classFailed, job, reason);

  const handle = async (msg: JsMsg) => {
    let trigger;
    try {
      trigger = parseClassRecorded(msg.data);
    } catch (err) {
      if (err instanceof PoisonMessageError) return deadLetter({ ...deps, logger }, 'scanner', msg, err.message);
      throw err;
    }
    const job: CrawlJob = {
      classId: trigger.classId,
      runId: runIdOf(msg),
      manifest: trigger.manifest ?? manifestFor(deps.config.manifestTemplate, trigger.classId),
      startedAt: new Date(msg.info.timestampNanos / 1e6).toISOString(),
      generation: 0,
      known: 0,
      only: trigger.files,
    };
    const log = logger.child({ classId: job.classId, runId: job.runId });
    try {
      const entry = deps.root.fromRef(job.manifest);
      if (!(await deps.reader.exists(entry))) {
        log.warn({ manifest: entry.path }, 'entry playlist not found; class failed');
        await fail(job, `entry playlist ${entry.path} not found at the source`);
        return msg.ack();
      }
    } catch (err) {
      const permanent = isPermanent(err);
      if (permanent || msg.info.deliveryCount >= deps.config.maxAttempts) {
        const why = err instanceof RefusedUriError ? `entry playlist refused: ${err.message}` : describeError(err);
        log.warn({ err }, 'class cannot start; reported failed');
        await fail(job, why);
        return msg.ack();
      }
      log.warn({ err, attempt: msg.info.deliveryCount }, 'entry playlist check failed; will retry');
      return msg.nak(deps.config.retryBackoffMs[msg.info.deliveryCount - 1] ?? 5_000);
    }
    await deps.js.publish(subjects.crawl, JSON.stringify(job), { msgID: `crawl:${job.runId}` });
    log.info({ manifest: job.manifest }, 'class queued for crawl');
    msg.ack();
  };

  return startConsumeLoop({
    name: 'scanner',
    js: deps.js,
    stream: deps.topology.streams.classes,
    consumer: deps.topology.consumers.scanner,
    logger,
    concurrency: 16,
    handle,
  });
}
