/**
 * In the bulk lane a class starts only when a whole slice fits, so that
 * started classes are finished rather than every class started at once (the
 * aggregator holds each started run in memory). A review found up to 4 first
 * turns (the crawler's concurrency) passing the room check on the same cached
 * backlog: the first took the room, the others enqueued nothing but still
 * announced the class (`class crawled`) and deferred. A first turn now
 * reserves its slice, and one left with nothing announces nothing. Counted
 * here: classes announced while none of their files was enqueued.
 */
import { describe, expect, it } from 'vitest';
import type { ClassTransferred } from '../streams/messages.js';
import { addClass } from './helpers/hls-fixtures.js';
import { crawledInEitherLane, startPipeline } from './helpers/pipeline.js';


describe('flow control - a bulk class starts with a whole slice', () => {
  it('flow control - no bulk class is started (crawled published) with none of its files enqueued', async () => {
    const files: Record<string, string> = {};
    const bulk = Array.from({ length: 16 }, (_, c) => `bulk${c}`);
    for (const c of bulk) addClass(files, c, 45);
    await using p = await startPipeline(files, {
      FLANTS_BATCH_SIZE: '10',
      FLANTS_BATCH_WAIT: '20ms',
      FLANTS_WAVE_CONCURRENCY: '2',
      FLANTS_FILE_CONCURRENCY: '2',
      FLANTS_MAX_QUEUED_JOBS: '30',
      FLANTS_CLASS_SLICE: '30',
    });
    const { origin, t, client, js } = p;
    for (const path of Object.keys(files)) if (path.endsWith('.ts')) origin.delays.set(path, 30);

    const crawledAt = new Map<string, number>();
    const firstJobAt = new Map<string, number>();
    const doneAt = new Map<string, number>();
    let peakStarted = 0;
    const started = () => [...crawledAt.keys()].filter((c) => !doneAt.has(c)).length;
    client.subscribe(crawledInEitherLane(t), {
      callback: (_e, m) => {
        const c = m.json<{ classId: string }>().classId;
        if (!crawledAt.has(c)) crawledAt.set(c, Date.now());
        peakStarted = Math.max(peakStarted, started());
      },
    });
    client.subscribe(t.subjects.transferBulk, {
      callback: (_e, m) => {
        const c = m.json<{ classId: string }>().classId;
        if (!firstJobAt.has(c)) firstJobAt.set(c, Date.now());
      },
    });
    client.subscribe(t.subjects.transferred, { callback: (_e, m) => void doneAt.set(m.json<ClassTransferred>().classId, Date.now()) });

    for (const c of bulk) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    for (const until = Date.now() + 150_000; doneAt.size < bulk.length && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    expect(doneAt.size).toBe(bulk.length);

    // A class whose first file was enqueued more than 300 ms after its `crawled`: its starting turn enqueued nothing.
    const startedEmpty = bulk.filter((c) => (firstJobAt.get(c) ?? Infinity) - (crawledAt.get(c) as number) > 300);
    const gaps = startedEmpty.map((c) => `${c}:${(firstJobAt.get(c) as number) - (crawledAt.get(c) as number)}ms`);
    console.log(`flow control: ${startedEmpty.length}/${bulk.length} bulk classes started with 0 files enqueued (${gaps.join(', ')}); peak started runs ${peakStarted}`);
    expect(startedEmpty).toEqual([]);
  }, 200_000);

  it('flow control - a bulk class that takes 2 s to crawl keeps the room it reserved: the fast classes behind it do not take it', async () => {
    // A second review found the held room dropped at the next backlog reading (500 ms): a slow crawl lost
    // its room to every faster first turn and started last.
    const files: Record<string, string> = {};
    const fast = Array.from({ length: 12 }, (_, c) => `fast${c}`);
    for (const c of ['slow', ...fast]) addClass(files, c, 29);
    await using p = await startPipeline(files, {
      FLANTS_BATCH_SIZE: '10', FLANTS_BATCH_WAIT: '20ms', FLANTS_MAX_QUEUED_JOBS: '30', FLANTS_CLASS_SLICE: '30',
    });
    const { origin, t, client, js, outcomes } = p;
    origin.delays.set('/vod/slow/master.m3u8', 2_000);
    for (const path of Object.keys(files)) if (path.endsWith('.ts')) origin.delays.set(path, 20);
    const announced: string[] = [];
    client.subscribe(crawledInEitherLane(t), {
      callback: (_e, m) => {
        const c = m.json<{ classId: string }>().classId;
        if (!announced.includes(c)) announced.push(c);
      },
    });
    const slowReads = () => origin.requests.filter((r) => r.includes('/vod/slow/master.m3u8')).length;

    await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: 'slow', manifest: 'slow/master.m3u8' }));
    // The scanner's check and the crawl's read: the slow class's first turn holds its room.
    for (const until = Date.now() + 20_000; slowReads() < 2 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 700));
    for (const c of fast) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    for (const c of ['slow', ...fast]) expect((await outcomes.of(c, 1, 180_000))[0]?.status).toBe('complete');
    console.log(`flow control: the slow class was announced ${announced.indexOf('slow') + 1}th of ${fast.length + 1}; its playlist read ${slowReads()} times`);
    expect(announced.indexOf('slow')).toBe(0);
  }, 240_000);

  it('flow control - a crawler started before any dispatcher counts each lane from the stream and keeps both bounded', async () => {
    const files: Record<string, string> = {};
    for (const c of ['live0', 'live1', 'bulk0', 'bulk1']) addClass(files, c, 60);
    await using p = await startPipeline(files, { FLANTS_MAX_QUEUED_JOBS: '20', FLANTS_CLASS_SLICE: '10' }, { lambda: false, actors: ['scanner', 'crawler'] });
    const { t, js, jsm } = p;
    const consumers = (await jsm.consumers.list(t.streams.work).next()).map((c) => c.name).sort();
    for (const c of ['live0', 'live1']) await js.publish(t.subjects.recorded, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    for (const c of ['bulk0', 'bulk1']) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    const count = async (subject: string) => (await jsm.streams.info(t.streams.work, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    for (const until = Date.now() + 20_000; (await count(t.subjects.transferBulk)) < 20 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 3_000)); // nothing drains: any more would break the bound
    const live = await count(t.subjects.transfer);
    const bulk = await count(t.subjects.transferBulk);
    console.log(`flow control: with no dispatcher, queued live ${live}, bulk ${bulk} (bound 20 + 4 x 10 per lane)`);
    expect(consumers).not.toContain(t.consumers.dispatcher);
    // Only first slices are live: one slice of each live class.
    expect(live).toBe(20);
    expect(bulk).toBeGreaterThanOrEqual(20);
    expect(bulk).toBeLessThanOrEqual(20 + 4 * 10);
  }, 60_000);
});
