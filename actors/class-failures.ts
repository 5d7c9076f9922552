/**
 * The report step of the actors that speak for a whole class run (scanner,
 * crawler): every message the policy ends as failed becomes that run's
 * `class failed`, published before the message is terminated.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { Decided } from '../streams/actor-runtime.js';
import { publishClassFailed, type CrawlJob } from '../streams/messages.js';

/** A runtime `report` that publishes `class failed` for each failed run, logging `what`. */
export function reportFailedRuns(js: JetStreamClient, subject: string, logger: Logger, what: string) {
  return async (decided: ReadonlyArray<Decided<CrawlJob>>): Promise<void> => {
    for (const d of decided) {
      if (d.decision.end !== 'fail' || !d.detail) continue;
      logger.warn({ classId: d.detail.classId, runId: d.detail.runId, reason: d.decision.reason }, what);
      await publishClassFailed(js, subject, d.detail, d.decision.reason);
    }
  };
}
