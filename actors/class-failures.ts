/**
 * The report step of the actors that speak for a whole class run (scanner,
 * crawler): every message the policy ends as failed becomes that run's
 * `class failed`, published before the message is terminated.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Decided } from '../streams/actor-runtime.js';
import type { LaneEvents } from '../streams/lane-events.js';
import { publishClassFailed, type CrawlJob } from '../streams/messages.js';

/** Publishes a run's `class failed` in its lane: after the lane's earlier events of the run, so its report has them. */
export function failRun(js: JetStreamClient, events: LaneEvents, job: CrawlJob, reason: string): Promise<void> {
  return events.publish(job.lane, 'failed', (subject) => publishClassFailed(js, subject, job, reason));
}

/** A runtime `report` that publishes `class failed` for each failed run, logging `what`. */
export function reportFailedRuns(js: JetStreamClient, events: LaneEvents, logger: Logger, what: string) {
  return async (decided: ReadonlyArray<Decided<CrawlJob>>): Promise<void> => {
    for (const d of decided) {
      // A poison message that still names its run (the crawler's) fails that run too: dead-lettered alone, it
      // would leave its class never reported.
      if ((d.decision.end !== 'fail' && d.decision.end !== 'dead-letter') || !d.detail) continue;
      logger.warn({ classId: d.detail.classId, runId: d.detail.runId, reason: d.decision.reason }, what);
      await failRun(js, events, d.detail, d.decision.reason);
    }
  };
}
