/**
 * Names one transfer of a class. A run is the `class.recorded` message that
 * started it: its stream sequence, plus its timestamp so that ids stay unique
 * if the stream is ever recreated and sequences start again.
 */
import type { JsMsg } from '@nats-io/jetstream';

/** The run id for the trigger `msg`. Stable across redeliveries of that message. */
export function runIdOf(msg: JsMsg): string {
  return runIdFor(msg.info.streamSequence, Math.floor(msg.info.timestampNanos / 1e6));
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
