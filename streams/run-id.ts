/**
 * Names one transfer of a class. A run is the `class.recorded` message that
 * started it: its stream sequence, plus its timestamp so that ids stay unique
 * if the stream is ever recreated and sequences start again.
 */
import type { JsMsg } from '@nats-io/jetstream';

/** The run id for the trigger `msg`. Stable across redeliveries of that message. */
export function runIdOf(msg: JsMsg): string {
  return runIdFor(msg.info.streamSequence, storedMillis(msg));
}

/**
 * The message's stored time in whole milliseconds, exactly: the nanoseconds
 * are read as an integer from the ack subject, since `timestampNanos` (a
 * double) can round across a millisecond and disagree with the stored
 * message's time that the max-deliveries path reads.
 */
function storedMillis(msg: JsMsg): number {
  const ns = msg.info.timestampNanos;
  const reply = (msg as unknown as { reply?: string }).reply ?? '';
  const token = reply.split('.').find((t: string) => /^\d{16,}$/.test(t) && Number(t) === ns);
  return token ? Number(BigInt(token) / 1_000_000n) : Math.floor(ns / 1e6);
}

/** The run id of the trigger stored at `seq` at `ms` (epoch milliseconds). */
export function runIdFor(seq: number, ms: number): string {
  return `${seq}-${ms.toString(36)}`;
}

/** Orders two run ids: newer runs have higher trigger sequences. */
export function compareRunIds(a: string, b: string): number {
  const seq = (r: string) => Number(r.split('-')[0]);
  return seq(a) - seq(b) || a.localeCompare(b);
}
