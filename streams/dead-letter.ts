/**
 * Publishes a dead-letter record for a message that can never be processed,
 * then terminates it, so that the consumer keeps going and nothing is lost silently.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import type { DeadLetter } from './messages.js';
import type { Topology } from './topology.js';

/** Records `msg` on the dead-letter subject with `reason`, logs it, and terms the message. */
export async function deadLetter(
  deps: { js: JetStreamClient; topology: Topology; logger: Logger },
  actor: string,
  msg: JsMsg,
  reason: string,
): Promise<void> {
  const record: DeadLetter = {
    subject: msg.subject,
    stream: msg.info.stream,
    seq: msg.seq,
    actor,
    reason,
    size: msg.data.length,
    preview: Buffer.from(msg.data.subarray(0, 1024)).toString('utf8'),
    at: new Date().toISOString(),
  };
  deps.logger.warn({ subject: msg.subject, seq: msg.seq, reason }, 'poison message dead-lettered');
  await deps.js.publish(deps.topology.subjects.deadletter, JSON.stringify(record), {
    msgID: `dl:${msg.info.stream}:${msg.seq}`,
  });
  msg.term(reason.slice(0, 200));
}
