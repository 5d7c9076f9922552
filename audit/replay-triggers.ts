/**
 * Replays the `class.recorded` history kept in JetStream (new recordings and
 * scans' `class.recorded.bulk` alike), from a start time or sequence, through a
 * short-lived ephemeral consumer. Returns the distinct
 * classes announced, each with its latest manifest.
 */
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { randomBytes } from 'node:crypto';
import { parseClassRecorded } from '../streams/messages.js';
import type { Topology } from '../streams/topology.js';

/** Where the replay starts. */
export interface ReplayFrom {
  readonly since?: Date;
  readonly fromSeq?: number;
}

/** One class found in the history. */
export interface ReplayedClass {
  readonly classId: string;
  readonly manifest?: string;
  /** Stream sequence of the latest trigger for the class. */
  readonly seq: number;
  readonly at: string;
}

/** Reads the history; invalid triggers (already dead-lettered at the time) are skipped. */
export async function replayTriggers(
  js: JetStreamClient,
  jsm: JetStreamManager,
  t: Topology,
  from: ReplayFrom,
): Promise<{ classes: ReplayedClass[]; messages: number; lastSeq: number }> {
  const name = `audit-${randomBytes(4).toString('hex')}`;
  const policy = from.fromSeq !== undefined
    ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from.fromSeq }
    : from.since
      ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.since.toISOString() }
      : { deliver_policy: DeliverPolicy.All };
  // No filter: the stream also keeps `class.transferred`, skipped below. One filter cannot take in both trigger
  // subjects, and several (`filter_subjects`) need nats-server 2.10.
  const triggers = new Set([t.subjects.recorded, t.subjects.recordedBulk]);
  await jsm.consumers.add(t.streams.classes, {
    name,
    ack_policy: AckPolicy.None,
    inactive_threshold: 60_000_000_000,
    ...policy,
  });
  const byClass = new Map<string, ReplayedClass>();
  let messages = 0;
  let lastSeq = 0;
  try {
    const consumer = await js.consumers.get(t.streams.classes, name);
    // Ask for exactly what is there, so that no fetch waits out its expiry at the end.
    let pending = (await consumer.info()).num_pending;
    while (pending > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(1_000, pending), expires: 5_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        lastSeq = m.seq;
        pending = m.info.pending;
        if (!triggers.has(m.subject)) continue;
        messages++;
        try {
          const trig = parseClassRecorded(m.data);
          byClass.set(trig.classId, { classId: trig.classId, manifest: trig.manifest, seq: m.seq, at: new Date(m.info.timestampNanos / 1e6).toISOString() });
        } catch {
          // Poison in the history was dead-lettered when it arrived; it names no class to audit.
        }
      }
      if (got === 0) break;
    }
  } finally {
    await jsm.consumers.delete(t.streams.classes, name).catch(() => undefined);
  }
  return { classes: [...byClass.values()], messages, lastSeq };
}
