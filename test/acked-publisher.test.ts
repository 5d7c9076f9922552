/**
 * The crawler's bulk publisher against a real nats-server: it resolves only on
 * the stream's PubAck, honours Nats-Msg-Id deduplication, and fails clearly
 * when nothing stores the message or no answer comes.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsServer } from '../dev/local/nats-server.js';
import { AckedPublisher } from '../streams/acked-publisher.js';
import { natsClient, startNats } from './helpers/services.js';

describe('streams - acknowledged bulk publish', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.close();
  });

  it('streams - resolves on the PubAck, dedupes by message id, and refuses what no stream captures', async () => {
    await using nc = await natsClient(nats.url);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'ACKED', subjects: ['acked.>'] });
    const publisher = new AckedPublisher(nc, 2_000);
    try {
      const acks = await Promise.all(Array.from({ length: 500 }, (_, i) => publisher.publish('acked.jobs', `job ${i}`, `m${i}`)));
      expect(new Set(acks.map((a) => a.seq)).size).toBe(500);
      expect(acks.every((a) => a.stream === 'ACKED' && !a.duplicate)).toBe(true);
      const again = await publisher.publish('acked.jobs', 'job 7 again', 'm7');
      expect(again.duplicate).toBe(true);
      expect((await jsm.streams.info('ACKED')).state.messages).toBe(500);
      await expect(publisher.publish('nowhere.jobs', 'x', 'n1')).rejects.toThrow(/503.*no stream stored it/);
    } finally {
      publisher.close();
    }
  });

  it('streams - fails a publish whose PubAck never comes, within its timeout', async () => {
    await using nc = await natsClient(nats.url);
    // A core subscriber that swallows the message and never answers stands in for a stream that is gone.
    nc.subscribe('silent.jobs', { callback: () => undefined });
    await nc.flush();
    const publisher = new AckedPublisher(nc, 600);
    try {
      const started = Date.now();
      await expect(publisher.publish('silent.jobs', 'x', 's1')).rejects.toThrow(/no PubAck for silent.jobs within 600 ms/);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      publisher.close();
    }
  });
});
