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
import { jetstream } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../cli/daemon.js';
import { startLocalLambda } from '../lambda/local-endpoint.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { startOrigin } from './helpers/origin.js';
import { natsClient, startNats, startS3, pipelineConfig, testLogger } from './helpers/services.js';

const media = (segs: string[]) => ['#EXTM3U', '#EXT-X-TARGETDURATION:4', ...segs.flatMap((s) => ['#EXTINF:4,', s]), '#EXT-X-ENDLIST', ''].join('\n');

describe('flow control - a bulk class starts with a whole slice', () => {
  it('flow control - no bulk class is started (crawled published) with none of its files enqueued', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    await using lambda = await startLocalLambda({ concurrency: 2, timeoutMs: 60_000, workers: 1 });
    const files: Record<string, string> = {};
    const bulk = Array.from({ length: 16 }, (_, c) => `bulk${c}`);
    for (const c of bulk) {
      const segs = Array.from({ length: 45 }, (_, i) => `s${i}.ts`);
      files[`/vod/${c}/master.m3u8`] = media(segs);
      for (const s of segs) files[`/vod/${c}/${s}`] = `${c}${s}`;
    }
    await using origin = await startOrigin(files);
    for (const p of Object.keys(files)) if (p.endsWith('.ts')) origin.delays.set(p, 30);
    const config = pipelineConfig({ nats, origin, dest: dst, lambda }, {
      FLANTS_BATCH_SIZE: '10',
      FLANTS_BATCH_WAIT: '20ms',
      FLANTS_WAVE_CONCURRENCY: '2',
      FLANTS_FILE_CONCURRENCY: '2',
      FLANTS_MAX_QUEUED_JOBS: '30',
      FLANTS_CLASS_SLICE: '30',
    });
    const t = topology(config.namespace);
    await using _daemon = await startDaemon({ config, logger: testLogger() });
    await using client = await natsClient(nats.url);
    const js = jetstream(client);

    const crawledAt = new Map<string, number>();
    const firstJobAt = new Map<string, number>();
    const doneAt = new Map<string, number>();
    let peakStarted = 0;
    const started = () => [...crawledAt.keys()].filter((c) => !doneAt.has(c)).length;
    client.subscribe(t.subjects.crawled, {
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
    client.subscribe(t.subjects.transferred, { callback: (_e, m) => doneAt.set(m.json<ClassTransferred>().classId, Date.now()) });

    for (const c of bulk) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    for (const until = Date.now() + 150_000; doneAt.size < bulk.length && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
    expect(doneAt.size).toBe(bulk.length);

    // A class whose first file was enqueued more than 300 ms after its `crawled`: its starting turn enqueued nothing.
    const startedEmpty = bulk.filter((c) => (firstJobAt.get(c) ?? Infinity) - (crawledAt.get(c) as number) > 300);
    const gaps = startedEmpty.map((c) => `${c}:${(firstJobAt.get(c) as number) - (crawledAt.get(c) as number)}ms`);
    console.log(`flow control: ${startedEmpty.length}/${bulk.length} bulk classes started with 0 files enqueued (${gaps.join(', ')}); peak started runs ${peakStarted}`);
    expect(startedEmpty).toEqual([]);
  }, 200_000);
});
