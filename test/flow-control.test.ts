/**
 * Flow control and fairness on real parts: a library scan (the bulk lane)
 * keeps a bounded backlog, classes progress side by side, and a recording
 * triggered behind it starts copying at once instead of waiting for the scan.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../cli/daemon.js';
import { startLocalLambda } from '../lambda/local-endpoint.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { startOrigin } from './helpers/origin.js';
import { natsClient, startNats, startS3, pipelineConfig, testLogger } from './helpers/services.js';

const media = (segs: string[]) => ['#EXTM3U', '#EXT-X-TARGETDURATION:4', ...segs.flatMap((s) => ['#EXTINF:4,', s]), '#EXT-X-ENDLIST', ''].join('\n');

describe('flow control - bounded backlog and a priority lane', () => {
  it('flow control - a recording triggered behind a bulk scan finishes long before the scan, and the bulk backlog stays bounded', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    // A small Lambda: the bulk work takes a while.
    await using lambda = await startLocalLambda({ concurrency: 4, timeoutMs: 60_000, workers: 2 });
    const files: Record<string, string> = {};
    const bulk = Array.from({ length: 24 }, (_, c) => `bulk${c}`);
    for (const c of bulk) {
      const segs = Array.from({ length: 100 }, (_, i) => `s${i}.ts`);
      files[`/vod/${c}/master.m3u8`] = media(segs);
      for (const s of segs) files[`/vod/${c}/${s}`] = `${c}${s}`;
    }
    files['/vod/fresh/master.m3u8'] = media(Array.from({ length: 10 }, (_, i) => `f${i}.ts`));
    for (let i = 0; i < 10; i++) files[`/vod/fresh/f${i}.ts`] = `fresh${i}`;
    await using origin = await startOrigin(files);
    for (const path of Object.keys(files)) if (path.endsWith('.ts')) origin.delays.set(path, 40);
    const config = pipelineConfig({ nats, origin, dest: dst, lambda }, {
      FLANTS_BATCH_SIZE: '25',
      FLANTS_BATCH_WAIT: '50ms',
      FLANTS_WAVE_CONCURRENCY: '2',
      FLANTS_FILE_CONCURRENCY: '4',
      FLANTS_MAX_QUEUED_JOBS: '200',
      FLANTS_CLASS_SLICE: '50',
    });
    const t = topology(config.namespace);
    await using _daemon = await startDaemon({ config, logger: testLogger() });
    await using client = await natsClient(nats.url);
    const js = jetstream(client);
    const jsm = await jetstreamManager(client);
    const done = new Map<string, number>();
    const sub = client.subscribe(t.subjects.transferred);
    void (async () => {
      for await (const m of sub) done.set(m.json<ClassTransferred>().classId, Date.now());
    })();

    const bulkStart = Date.now();
    for (const c of bulk) await js.publish(t.subjects.recorded, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8`, lane: 'bulk' }));
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
    // Side by side: each class gets a slice per turn, round robin, so even the first class of the scan
    // finishes well into it (in trigger order it would finish after about 1/24 of the run; measured 17–36 %).
    const first = Math.min(...bulk.map((c) => done.get(c) as number)) - bulkStart;
    const last = Math.max(...bulk.map((c) => done.get(c) as number)) - bulkStart;
    console.log(`flow control: first class of the scan done at ${Math.round((100 * first) / last)} % of the scan`);
    expect(first).toBeGreaterThan(last * 0.1);
  }, 240_000);
});
