/**
 * Names one transfer of a class. A run is the `class.recorded` message that
 * started it: its stream sequence, plus its timestamp so that ids stay unique
 * if the stream is ever recreated and sequences start again.
 */
import type { JsMsg } from '@nats-io/jetstream';

/** The run id for the trigger `msg`. Stable across redeliveries of that message. */
export function runIdOf(msg: JsMsg): string {
  const ms = Math.floor(msg.info.timestampNanos / 1e6);
  return `${msg.info.streamSequence}-${ms.toString(36)}`;
}

/** Orders two run ids: newer runs have higher trigger sequences. */
export function compareRunIds(a: string, b: string): number {
  const seq = (r: string) => Number(r.split('-')[0]);
  return seq(a) - seq(b) || a.localeCompare(b);
}
