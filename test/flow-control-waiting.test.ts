/**
 * A scan's classes that wait for room must cost nothing while they wait.
 * Measured before this test: each waiting class looked for room every 3 s as
 * a new message in the work stream (a publish, a delivery, a not-due nak and
 * an ack), about 700 messages a second with 2,000 classes waiting, growing
 * with the library. Now the crawler pulls a scan's next class only when its
 * lane has room for a slice; the classes already under way (a bounded few)
 * are all that goes round.
 */
import { AckPolicy } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import type { ClassTransferred } from '../streams/messages.js';
import { startDaemon } from '../cli/daemon.js';
import { addClass } from './helpers/hls-fixtures.js';
import { crawledInEitherLane, startPipeline } from './helpers/pipeline.js';
import { testLogger } from './helpers/services.js';

describe('flow control - classes waiting for room', () => {
  it('flow control - 60 bulk classes waiting behind a full lane publish (almost) nothing while they wait, and all start once it drains', async () => {
    const files: Record<string, string> = {};
    const bulk = Array.from({ length: 60 }, (_, c) => `bulk${c}`);
    for (const c of bulk) addClass(files, c, 15);
    // No dispatcher: nothing drains, so the bulk lane stays full and every other class waits.
    await using p = await startPipeline(files, { FLANTS_MAX_QUEUED_JOBS: '20', FLANTS_CLASS_SLICE: '10' }, { lambda: false, actors: ['scanner', 'crawler'] });
    const { t, js, jsm } = p;
    const announced = new Set<string>();
    p.client.subscribe(crawledInEitherLane(t), { callback: (_e, m) => void announced.add(m.json<{ classId: string }>().classId) });
    for (const c of bulk) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));

    const count = async (subject: string) => (await jsm.streams.info(t.streams.work, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    const scanned = async () => (await jsm.consumers.info(t.streams.classes, t.consumers.scannerBulk)).num_pending === 0;
    for (const until = Date.now() + 30_000; ((await count(t.subjects.transferBulk)) < 20 || !(await scanned())) && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1_000)); // the scanner's last crawl jobs are in
    const before = (await jsm.streams.info(t.streams.work)).state.last_seq;
    await new Promise((r) => setTimeout(r, 6_000));
    const published = (await jsm.streams.info(t.streams.work)).state.last_seq - before;
    console.log(`flow control: with ${bulk.length} bulk classes waiting behind a full lane, ${published} messages published in the work stream in 6 s; ${announced.size} classes started`);
    // Only the classes under way look for room (2 slices fit, a few more may be admitted on a race), each about
    // once a second: well under one message per waiting class, whatever their number.
    expect(published).toBeLessThanOrEqual(30);
    expect(announced.size).toBeLessThanOrEqual(4);

    // The lane drains: every class starts, in the end, and each is announced once its first slice is in.
    const consumer = await js.consumers.get(t.streams.work, t.consumers.dispatcherBulk).catch(() => undefined);
    expect(consumer).toBeUndefined(); // no dispatcher has made it: the drain below acks straight from the stream
    await jsm.consumers.add(t.streams.work, { durable_name: 'drain', filter_subject: t.subjects.transferBulk, ack_policy: AckPolicy.Explicit });
    const drain = await js.consumers.get(t.streams.work, 'drain');
    for (const until = Date.now() + 120_000; announced.size < bulk.length && Date.now() < until; ) {
      try {
        const batch = await drain.fetch({ max_messages: 50, expires: 2_000 });
        for await (const m of batch) m.ack();
      } catch {
        // A fetch whose heartbeats came late on a busy machine: fetch again.
      }
    }
    expect(announced.size).toBe(bulk.length);
  }, 180_000);

  it('flow control - while the aggregator is behind, no more of a scan is started; once it catches up, every class completes', async () => {
    const files: Record<string, string> = {};
    const bulk = Array.from({ length: 30 }, (_, c) => `bulk${c}`);
    for (const c of bulk) addClass(files, c, 3);
    // No aggregator: every result and crawl count waits in the events stream.
    await using p = await startPipeline(
      files,
      { FLANTS_MAX_AGGREGATOR_BACKLOG: '10', FLANTS_BATCH_SIZE: '5', FLANTS_BATCH_WAIT: '20ms' },
      { actors: ['scanner', 'crawler', 'dispatcher'] },
    );
    const { t, js, jsm, client, outcomes } = p;
    const announced = new Set<string>();
    client.subscribe(crawledInEitherLane(t), { callback: (_e, m) => void announced.add(m.json<{ classId: string }>().classId) });
    for (const c of bulk) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    const events = async () => (await jsm.streams.info(t.streams.events)).state.messages;
    for (const until = Date.now() + 30_000; (await events()) < 10 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 4_000)); // time for a dozen more classes, were they started
    const started = announced.size;
    console.log(`flow control: with no aggregator running, ${started} of ${bulk.length} classes started, ${await events()} events waiting (limit 10)`);
    // Each admission counts as one event until the next reading (each class really leaves at least 2: its count
    // and a wave's results), so at most 10 start between readings; a reading misses the events of turns still
    // crawling (4 at once) and of waves still copying, so a few more may start. Unbounded, all 30 start (seen).
    expect(started).toBeGreaterThanOrEqual(3);
    expect(started).toBeLessThanOrEqual(16);

    const aggregator = await startDaemon({ config: p.config, logger: testLogger(), actors: ['aggregator'] });
    try {
      for (const c of bulk) expect((await outcomes.of(c, 1, 60_000))[0]?.status).toBe('complete');
    } finally {
      await aggregator.stop();
    }
  }, 120_000);

  it("flow control - a recording's events go ahead of a scan's already queued for the aggregator", async () => {
    const files: Record<string, string> = {};
    const bulk = Array.from({ length: 40 }, (_, c) => `bulk${c}`);
    for (const c of [...bulk, 'fresh']) addClass(files, c, 2);
    // No aggregator yet: the scan's events (a count and results per class) queue up first, then the recording's.
    await using p = await startPipeline(files, { FLANTS_BATCH_SIZE: '10', FLANTS_BATCH_WAIT: '20ms' }, { actors: ['scanner', 'crawler', 'dispatcher'] });
    const { t, js, jsm, client } = p;
    const order: string[] = [];
    client.subscribe(t.subjects.transferred, { callback: (_e, m) => void order.push(m.json<ClassTransferred>().classId) });
    const workDone = async (until: number) => {
      // The work queue is empty once every crawl and transfer job is acked (their results are then in the events stream).
      while ((await jsm.streams.info(t.streams.work)).state.messages > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    };
    for (const c of bulk) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    const count = async (subject: string) => (await jsm.streams.info(t.streams.events, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    for (const until = Date.now() + 60_000; (await count(t.subjects.crawledBulk)) < bulk.length && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    await workDone(Date.now() + 60_000);
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'fresh', manifest: 'fresh/master.m3u8' }));
    for (const until = Date.now() + 30_000; (await count(t.subjects.results)) < 1 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    await workDone(Date.now() + 30_000);
    const queued = (await jsm.streams.info(t.streams.events)).state.messages;

    const aggregator = await startDaemon({ config: p.config, logger: testLogger(), actors: ['aggregator'] });
    try {
      for (const until = Date.now() + 60_000; order.length < bulk.length + 1 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    } finally {
      await aggregator.stop();
    }
    console.log(`flow control: with ${queued} events queued for the aggregator (the recording's last), the recording was reported ${order.indexOf('fresh') + 1}th of ${order.length}`);
    expect(order.length).toBe(bulk.length + 1);
    // In one queue it would be reported last; in its own lane it goes in the aggregator's first batch.
    expect(order.indexOf('fresh')).toBeLessThan(bulk.length / 2);
  }, 180_000);
});
