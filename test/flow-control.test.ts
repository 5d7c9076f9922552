/**
 * Flow control and fairness on real parts: a library scan (the bulk lane)
 * keeps a bounded backlog, classes progress side by side, and a recording
 * triggered behind it starts copying at once instead of waiting for the scan.
 */
import { describe, expect, it } from 'vitest';
import type { ClassTransferred } from '../streams/messages.js';
import { addClass, mediaPlaylist } from './helpers/hls-fixtures.js';
import { crawledInEitherLane, startPipeline } from './helpers/pipeline.js';

describe('flow control - bounded backlog and a priority lane', () => {
  it('flow control - a recording triggered behind a bulk scan finishes long before the scan, and the bulk backlog stays bounded', async () => {
    const files: Record<string, string> = {};
    const bulk = Array.from({ length: 24 }, (_, c) => `bulk${c}`);
    for (const c of bulk) addClass(files, c, 100);
    files['/vod/fresh/master.m3u8'] = mediaPlaylist(Array.from({ length: 10 }, (_, i) => `f${i}.ts`));
    for (let i = 0; i < 10; i++) files[`/vod/fresh/f${i}.ts`] = `fresh${i}`;
    // A small Lambda: the bulk work takes a while.
    await using p = await startPipeline(
      files,
      {
        FLANTS_BATCH_SIZE: '25',
        FLANTS_BATCH_WAIT: '50ms',
        FLANTS_WAVE_CONCURRENCY: '2',
        FLANTS_FILE_CONCURRENCY: '4',
        FLANTS_MAX_QUEUED_JOBS: '200',
        FLANTS_CLASS_SLICE: '50',
      },
      { lambda: { concurrency: 4, workers: 2 } },
    );
    const { origin, t, client, js, jsm } = p;
    for (const path of Object.keys(files)) if (path.endsWith('.ts')) origin.delays.set(path, 40);
    const done = new Map<string, number>();
    const sub = client.subscribe(t.subjects.transferred);
    void (async () => {
      for await (const m of sub) done.set(m.json<ClassTransferred>().classId, Date.now());
    })();
    // Classes under way at once: announced by the crawler (`class crawled`) and not yet reported.
    const announced = new Set<string>();
    let peakUnderWay = 0;
    client.subscribe(crawledInEitherLane(t), {
      callback: (_e, m) => {
        announced.add(m.json<{ classId: string }>().classId);
        peakUnderWay = Math.max(peakUnderWay, [...announced].filter((c) => !done.has(c)).length);
      },
    });

    const bulkStart = Date.now();
    for (const c of bulk) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    let peakBacklog = 0;
    const sampler = setInterval(() => {
      void jsm.consumers.info(t.streams.work, t.consumers.dispatcherBulk).then(
        (ci) => (peakBacklog = Math.max(peakBacklog, ci.num_pending + ci.num_ack_pending)),
        () => undefined,
      );
    }, 100);
    await new Promise((r) => setTimeout(r, 2_000)); // the scan is well under way
    const triggered = Date.now();
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'fresh', manifest: 'fresh/master.m3u8' }));
    const until = Date.now() + 180_000;
    while (done.size < bulk.length + 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    clearInterval(sampler);
    sub.unsubscribe();

    expect(done.size).toBe(bulk.length + 1);
    const fresh = (done.get('fresh') as number) - triggered;
    const lastBulk = Math.max(...bulk.map((c) => done.get(c) as number)) - triggered;
    console.log(`flow control: fresh class done ${fresh} ms after its trigger; the scan's last class ${lastBulk} ms after it; peak bulk backlog ${peakBacklog} jobs`);
    expect(fresh).toBeLessThan(lastBulk / 3);
    // Bound: FLANTS_MAX_QUEUED_JOBS plus one slice per crawl in flight (4).
    expect(peakBacklog).toBeLessThanOrEqual(200 + 4 * 50);
    // Side by side: classes get a slice per turn, round robin, several under way at once (in trigger order,
    // one at a time); each started class is finished before many more start (the bound room allows 4 slices).
    const first = Math.min(...bulk.map((c) => done.get(c) as number)) - bulkStart;
    const last = Math.max(...bulk.map((c) => done.get(c) as number)) - bulkStart;
    console.log(`flow control: first class of the scan done at ${Math.round((100 * first) / last)} % of the scan; at most ${peakUnderWay} classes under way at once`);
    expect(peakUnderWay).toBeGreaterThanOrEqual(3);
    expect(peakUnderWay).toBeLessThanOrEqual(200 / 50 + 4 + 1);
  }, 240_000);

  it('flow control - a recording triggered behind thousands of queued scan triggers is scanned first', async () => {
    const files: Record<string, string> = {};
    const bulk = Array.from({ length: 600 }, (_, c) => `bulk${c}`);
    for (const c of ['fresh', ...bulk]) {
      files[`/vod/${c}/master.m3u8`] = mediaPlaylist(['s0.ts']);
      files[`/vod/${c}/s0.ts`] = c;
    }
    await using p = await startPipeline(files, { FLANTS_BATCH_SIZE: '25', FLANTS_BATCH_WAIT: '50ms' }, { lambda: { concurrency: 4, workers: 1 } });
    const { origin, t, js, jsm, outcomes } = p;
    // A slow source answers each entry-playlist check in 150 ms: the scanner (16 at once) needs ~6 s for the scan's triggers.
    for (const c of bulk) origin.delays.set(`/vod/${c}/master.m3u8`, 150);

    // The scan's triggers, on the bulk subject that `flants scan` uses.
    for (const c of bulk) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    await new Promise((r) => setTimeout(r, 500));
    // The moment the scanner has checked the recording and queued its crawl: how much of the scan is still unscanned.
    let unscannedThen: Promise<number> | undefined;
    let scannedMs = 0;
    const crawls = p.client.subscribe(t.subjects.crawl, {
      callback: (_e, m) => {
        if (unscannedThen || m.json<{ classId: string }>().classId !== 'fresh') return;
        scannedMs = Date.now() - triggered;
        unscannedThen = jsm.consumers.info(t.streams.classes, t.consumers.scannerBulk).then((ci) => ci.num_pending);
      },
    });
    const triggered = Date.now();
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'fresh', manifest: 'fresh/master.m3u8' }));
    const [fresh] = await outcomes.of('fresh', 1, 60_000);
    const freshMs = Date.now() - triggered;
    crawls.unsubscribe();
    const unscanned = await unscannedThen;
    console.log(`flow control: fresh class scanned ${scannedMs} ms after its trigger, with ${unscanned} scan triggers still waiting for the scanner; done after ${freshMs} ms`);
    expect(fresh?.status).toBe('complete');
    // Scanned in trigger order it would wait behind several hundred 150 ms checks (about 5 s).
    expect(unscanned).toBeGreaterThan(200);
    await outcomes.of('bulk599', 1, 60_000);
  }, 120_000);

  it('flow control - a live class larger than a slice: its first slice is live, the rest goes in the bulk lane, and a recording triggered after it is not stuck behind it', async () => {
    const files: Record<string, string> = {};
    const big = addClass(files, 'big', 1200);
    files['/vod/small/master.m3u8'] = mediaPlaylist(['a.ts', 'b.ts']);
    files['/vod/small/a.ts'] = 'a';
    files['/vod/small/b.ts'] = 'b';
    await using p = await startPipeline(files, {
      FLANTS_BATCH_SIZE: '10',
      FLANTS_BATCH_WAIT: '20ms',
      FLANTS_WAVE_CONCURRENCY: '2',
      FLANTS_FILE_CONCURRENCY: '2',
      FLANTS_MAX_QUEUED_JOBS: '300',
      FLANTS_CLASS_SLICE: '100',
    });
    const { origin, t, js, jsm, outcomes } = p;
    for (const path of big) origin.delays.set(path, 20);
    const peak = { live: 0, bulk: 0 };
    const sampler = setInterval(() => {
      for (const [lane, c] of [['live', t.consumers.dispatcher], ['bulk', t.consumers.dispatcherBulk]] as const) {
        void jsm.consumers.info(t.streams.work, c).then(
          (ci) => (peak[lane] = Math.max(peak[lane], ci.num_pending + ci.num_ack_pending)),
          () => undefined,
        );
      }
    }, 50);

    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'big', manifest: 'big/master.m3u8' }));
    await new Promise((r) => setTimeout(r, 3_000));
    // The big class's first slice (live, ahead of any later live class by design) is copied: what follows is its rest,
    // in the bulk lane. On 2 busy cores 3 s was not always enough (the small class then queued behind that slice).
    const liveQueued = async () => {
      const ci = await jsm.consumers.info(t.streams.work, t.consumers.dispatcher);
      return ci.num_pending + ci.num_ack_pending;
    };
    for (const until = Date.now() + 30_000; (await liveQueued()) > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    const triggered = Date.now();
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'small', manifest: 'small/master.m3u8' }));
    const [small] = await outcomes.of('small', 1, 60_000);
    const firstCopy = origin.requestTimes[origin.requests.findIndex((r) => r.endsWith('/vod/small/a.ts') || r.endsWith('/vod/small/b.ts'))] as number;
    const bigBefore = origin.requests.filter((r, i) => r.startsWith('GET /vod/big/s') && (origin.requestTimes[i] as number) > triggered && (origin.requestTimes[i] as number) < firstCopy).length;
    const [bigOutcome] = await outcomes.of('big', 1, 120_000);
    clearInterval(sampler);
    console.log(
      `flow control: small class's first segment fetched ${firstCopy - triggered} ms after its trigger, after ${bigBefore} of the big class's; ` +
        `peak backlog live ${peak.live}, bulk ${peak.bulk} jobs`,
    );
    expect(small?.status).toBe('complete');
    expect(bigOutcome).toMatchObject({ status: 'complete', files: 1201 });
    // Only what was in flight goes first (2 waves of 10): not the big class's queued slices.
    expect(bigBefore).toBeLessThan(50);
    // Bound per lane: FLANTS_MAX_QUEUED_JOBS plus one slice per crawl in flight (4).
    expect(Math.max(peak.live, peak.bulk)).toBeLessThanOrEqual(300 + 4 * 100);
    // The live lane only ever holds first slices: the big class's and the small one's.
    expect(peak.live).toBeLessThanOrEqual(100 + 2);
  }, 240_000);
});
