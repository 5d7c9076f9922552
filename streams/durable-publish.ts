/**
 * A JetStream publish that rides out a leader election. While a stream's
 * leader moves (a node of the cluster died or restarts), publishes fail with
 * "no responders" or time out for a few seconds. Giving up there sends the
 * work back through redelivery, after the ack wait, and a wave's results
 * would wait for it; retrying for a bounded time costs seconds instead.
 */
import type { JetStreamClient, JetStreamPublishOptions, PubAck } from '@nats-io/jetstream';
import { isTransientNatsError } from './transient-error.js';

/** How long a publish keeps trying before the caller's own failure path takes over. */
export const PUBLISH_RETRY_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** Publishes, retrying transient failures with a growing pause for up to `maxMs`. */
export async function publishDurably(
  js: JetStreamClient,
  subject: string,
  data: string | Uint8Array,
  opts?: Partial<JetStreamPublishOptions>,
  maxMs = PUBLISH_RETRY_MS,
): Promise<PubAck> {
  const until = Date.now() + maxMs;
  for (let pause = 250; ; pause = Math.min(pause * 2, 2_000)) {
    try {
      return await js.publish(subject, data, opts);
    } catch (err) {
      if (!isTransientNatsError(err) || Date.now() + pause > until) throw err;
      await sleep(pause);
    }
  }
}
