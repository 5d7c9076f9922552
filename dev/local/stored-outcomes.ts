/**
 * Reads back the `class.transferred` outcomes a run stored in its classes
 * stream: how many there are, and each of them, so that a duplicate shows.
 */
import { randomBytes } from 'node:crypto';
import { AckPolicy, jetstream, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ClassTransferred } from '../../streams/messages.js';
import type { Topology } from '../../streams/topology.js';

/** Every `class.transferred` stored in the classes stream, read back with an ephemeral consumer. */
export async function readStoredOutcomes(nc: NatsConnection, jsm: JetStreamManager, t: Topology, count: number): Promise<ClassTransferred[]> {
  const js = jetstream(nc);
  const name = `outcomes-check-${randomBytes(3).toString('hex')}`;
  await jsm.consumers.add(t.streams.classes, { name, filter_subject: t.subjects.transferred, ack_policy: AckPolicy.None, inactive_threshold: 60_000_000_000 });
  const consumer = await js.consumers.get(t.streams.classes, name);
  const outcomes: ClassTransferred[] = [];
  while (outcomes.length < count) {
    const batch = await consumer.fetch({ max_messages: 500, expires: 2_000 });
    let n = 0;
    for await (const m of batch) {
      outcomes.push(m.json<ClassTransferred>());
      n++;
    }
    if (n === 0) break;
  }
  await jsm.consumers.delete(t.streams.classes, name).catch(() => undefined);
  return outcomes;
}

/** `class.transferred` messages stored so far; -1 while the servers cannot answer. */
export async function storedOutcomeCount(jsm: JetStreamManager, t: Topology): Promise<number> {
  try {
    const info = await jsm.streams.info(t.streams.classes, { subjects_filter: t.subjects.transferred });
    return info.state.subjects?.[t.subjects.transferred] ?? 0;
  } catch {
    return -1;
  }
}

