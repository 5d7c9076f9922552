/**
 * A bulk class under way in a lane that drains slowly reads its playlists again
 * only for a useful turn: a tenth of a slice, or all it has left. A review: it
 * took any room there was, so a 200,000-file class behind a dispatcher copying
 * 45 large files a second would have been crawled every second for 45 files.
 */
import { AckPolicy } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { addClass } from './helpers/hls-fixtures.js';
import { startPipeline } from './helpers/pipeline.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('flow control - turns of a class under way', () => {
  it('flow control - a bulk class in a slowly draining lane enqueues at least a tenth of a slice per reading of its playlists', async () => {
    const files: Record<string, string> = {};
    addClass(files, 'big', 299); // 300 files: a first turn of 100, then turns of at least 10
    // No dispatcher: the test drains the bulk lane itself, one job every 250 ms.
    await using p = await startPipeline(files, { FLANTS_MAX_QUEUED_JOBS: '100', FLANTS_CLASS_SLICE: '100' }, { lambda: false, actors: ['scanner', 'crawler', 'aggregator'] });
    const { t, js, jsm } = p;
    const reads = () => p.origin.requests.filter((r) => r === 'GET /vod/big/master.m3u8').length;
    await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: 'big', manifest: 'big/master.m3u8' }));
    const queued = async () => (await jsm.streams.info(t.streams.work, { subjects_filter: t.subjects.transferBulk })).state.subjects?.[t.subjects.transferBulk] ?? 0;
    for (const until = Date.now() + 30_000; (await queued()) < 100 && Date.now() < until; ) await sleep(100);
    const readsAtFirstTurn = reads();

    await jsm.consumers.add(t.streams.work, { durable_name: 'drain', filter_subject: t.subjects.transferBulk, ack_policy: AckPolicy.Explicit });
    const drain = await js.consumers.get(t.streams.work, 'drain');
    let drained = 0;
    for (const until = Date.now() + 15_000; Date.now() < until; await sleep(250)) {
      for await (const m of await drain.fetch({ max_messages: 1, expires: 1_000 })) {
        m.ack();
        drained++;
      }
    }
    await sleep(1_500);
    const enqueuedSince = drained + (await queued()) - 100;
    const readsSince = reads() - readsAtFirstTurn;
    console.log(`flow control turns: ${drained} jobs drained in 15 s; ${enqueuedSince} more enqueued over ${readsSince} readings of the playlist`);
    expect(drained).toBeGreaterThanOrEqual(40);
    // The lane refilled as it drained, in turns of at least 10 (a tenth of the slice); at most one turn still short.
    expect(enqueuedSince).toBeGreaterThanOrEqual(drained - 10);
    expect(readsSince).toBeGreaterThan(0);
    expect(readsSince).toBeLessThanOrEqual(Math.floor(enqueuedSince / 10) + 1);
  }, 120_000);
});
