/**
 * Publishes a class run's events (its count, results, long lists, failure)
 * in its lane, so that the aggregator takes a new recording's before a
 * scan's. A user still on the permissions from before the bulk lane had its
 * own events (an upgrade that kept the previous nats-server configuration)
 * is refused the bulk subjects: it then publishes them on the live ones,
 * where the aggregator takes them too, and says so once. Nothing is lost or
 * copied twice; only the scan's events lose their lower priority.
 */
import { PermissionViolationError } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { eventSubjects, type Lane, type Topology } from './topology.js';

/** The kinds of event a class run has, each with a subject per lane. */
export type EventKind = keyof ReturnType<typeof eventSubjects>;

/** True when the server refused the request for this user's permissions (the client wraps it in a RequestError). */
export function isPermissionRefusal(err: unknown): boolean {
  return err instanceof PermissionViolationError || (err as Error | undefined)?.cause instanceof PermissionViolationError;
}

/** One per process: remembers a refusal, so that each event after it goes straight to the live subject. */
export class LaneEvents {
  private refused = false;

  constructor(
    private readonly t: Topology,
    private readonly logger: Logger,
  ) {}

  /** Sends one event with `send(subject)` on its lane's subject, or the live one after a refusal. */
  async publish(lane: Lane, kind: EventKind, send: (subject: string) => Promise<unknown>): Promise<void> {
    if (lane === 'bulk' && !this.refused) {
      const subject = eventSubjects(this.t, 'bulk')[kind];
      try {
        await send(subject);
        return;
      } catch (err) {
        if (!isPermissionRefusal(err)) throw err;
        this.refused = true;
        this.logger.warn(
          { err, subject },
          `this user may not publish ${subject}: the bulk lane's events go on the live lane's subjects, so the aggregator takes them with a new recording's; ` +
            'grant the subjects in deploy/nats/flants.conf',
        );
      }
    }
    await send(eventSubjects(this.t, 'live')[kind]);
  }
}
