/**
 * The dead-letter record of a message that can never be processed: what was
 * rejected, where it came from, and why. The runtime publishes it before it
 * terminates the message, so that nothing is lost silently.
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { DeadLetter } from './messages.js';

/** Builds the record for `msg`, rejected by `actor` for `reason`. */
export function deadLetterRecord(actor: string, msg: JsMsg, reason: string): DeadLetter {
  return {
    subject: msg.subject,
    stream: msg.info.stream,
    seq: msg.seq,
    actor,
    reason,
    size: msg.data.length,
    preview: Buffer.from(msg.data.subarray(0, 1024)).toString('utf8'),
    at: new Date().toISOString(),
  };
}
