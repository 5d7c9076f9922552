/**
 * Scanner: turns `class.recorded` triggers (and a scan's, on `class.recorded.bulk`) into crawl jobs. It validates the
 * payload (poison messages are dead-lettered), checks that the entry playlist
 * exists, and reports a class that cannot start as failed, so that every
 * announced class ends with an outcome.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { FlantsConfig } from '../config/load-config.js';
import { describeError, isPermanent, RefusedUriError } from '../storage/errors.js';
import type { SourceReader } from '../storage/source-reader.js';
import type { SourceRoot } from '../storage/source-root.js';
import { failRun, reportFailedRuns } from './class-failures.js';
import { LaneEvents } from '../streams/lane-events.js';
import { startActor, type Delivery, type Handled, type RuntimeHandle } from '../streams/actor-runtime.js';
import { MAX_PAYLOAD_BYTES, parseClassRecorded, PoisonMessageError, type CrawlJob } from '../streams/messages.js';
import { publishDurably } from '../streams/durable-publish.js';
import { policyOf } from '../streams/policy-settings.js';
import { topologyOptions } from '../streams/ensure-topology.js';
import { runIdFor, runIdOf } from '../streams/run-id.js';
import type { Topology } from '../streams/topology.js';

/** Room a crawl job keeps for the fields its turns and re-crawls add (turn, notBefore, digests, counts: under 400 bytes). */
const TURN_FIELDS_BYTES = 1_024;

/** What the scanner needs. */
export interface ScannerDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly serverVersion?: string;
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
export async function startScanner(deps: ScannerDeps): Promise<RuntimeHandle> {
  const logger = deps.logger.child({ actor: 'scanner' });
  const { subjects } = deps.topology;

  // A scan's triggers come on their own subject, scanned only while new recordings have none waiting;
  // `lane` in the payload is how scans before that subject said it.
  const jobFor = (subject: string, data: Uint8Array, runId: string, startedAt: string): CrawlJob => {
    const trigger = parseClassRecorded(data);
    return {
      classId: trigger.classId,
      runId,
      manifest: trigger.manifest ?? manifestFor(deps.config.manifestTemplate, trigger.classId),
      startedAt,
      generation: 0,
      known: 0,
      only: trigger.files,
      lane: subject === subjects.recordedBulk ? 'bulk' : (trigger.lane ?? 'live'),
      enqueueFrom: 0,
    };
  };

  const events = new LaneEvents(deps.topology, logger);

  const handleOne = async ({ msg }: Delivery): Promise<Handled<CrawlJob>> => {
    let job: CrawlJob;
    try {
      job = jobFor(msg.subject, msg.data, runIdOf(msg), new Date(msg.info.timestampNanos / 1e6).toISOString());
    } catch (err) {
      if (err instanceof PoisonMessageError) return { outcome: { kind: 'poison', reason: err.message } };
      throw err;
    }
    const log = logger.child({ classId: job.classId, runId: job.runId });
    try {
      const entry = deps.root.fromRef(job.manifest);
      if (!(await deps.reader.exists(entry))) {
        return { outcome: { kind: 'failed', retryable: false, reason: `entry playlist ${entry.path} not found at the source` }, detail: job };
      }
    } catch (err) {
      const reason = err instanceof RefusedUriError ? `entry playlist refused: ${err.message}` : describeError(err);
      log.warn({ err }, 'entry playlist check failed');
      return { outcome: { kind: 'failed', retryable: !isPermanent(err), reason }, detail: job };
    }
    const crawl = JSON.stringify(job);
    // The crawl job is the trigger plus the run's fields, and each turn adds a few more: one that would not fit a
    // message is refused here, with a report, rather than dead-lettered by the crawler with none (a review found a
    // repair list just under the trigger's limit left its run open for good).
    const bytes = Buffer.byteLength(crawl);
    if (bytes > MAX_PAYLOAD_BYTES - TURN_FIELDS_BYTES) {
      const reason = `its crawl job would be ${bytes} bytes, over the ${MAX_PAYLOAD_BYTES - TURN_FIELDS_BYTES}-byte limit (a shorter files list, or several triggers, fit)`;
      return { outcome: { kind: 'failed', retryable: false, reason }, detail: job };
    }
    await publishDurably(deps.js, job.lane === 'bulk' ? subjects.crawlBulk : subjects.crawl, crawl, { msgID: `crawl:${job.runId}` });
    log.info({ manifest: job.manifest }, 'class queued for crawl');
    return { outcome: { kind: 'ok' }, detail: job };
  };

  return startActor<CrawlJob>({
    name: 'scanner',
    js: deps.js,
    jsm: deps.jsm,
    topology: deps.topology,
    serverVersion: deps.serverVersion,
    stream: deps.topology.streams.classes,
    consumer: deps.topology.consumers.scanner,
    lowPriorityConsumer: deps.topology.consumers.scannerBulk,
    logger,
    policy: policyOf(deps.config),
    topologyOptions: topologyOptions(deps.config),
    concurrency: 16,
    maxHeld: 64,
    handle: (ds) => Promise.all(ds.map(handleOne)),
    report: reportFailedRuns(deps.js, events, logger, 'class cannot start; reported failed'),
    exhausted: async (m) => {
      let job: CrawlJob;
      try {
        job = jobFor(m.subject, m.data, runIdFor(m.seq, m.time.getTime()), m.time.toISOString());
      } catch (err) {
        if (err instanceof PoisonMessageError) return; // never a class: nothing to report
        throw err;
      }
      await failRun(deps.js, events, job, `trigger was delivered ${m.deliveries} times without an outcome (redelivery cap)`);
    },
  });
}
