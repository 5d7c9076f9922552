/**
 * The aggregator against inputs a hostile review found: live recordings that
 * end between two attempts or shrink at the end, file indexes far outside any
 * class, results that arrive after the report. Real nats-server, real S3
 * endpoint; messages are published as the other actors would.
 */
import { DiscardPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { startAggregator } from '../actors/aggregator.js';
import { startDaemon } from '../cli/daemon.js';
import { ensureTopology, openClassStateKv, topologyOptions } from '../streams/ensure-topology.js';
import type { ClassTransferred, DeadLetter } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { makeS3Client } from '../storage/s3-client.js';
import { ClassProgress } from '../tracking/class-progress.js';
import { keysUnder } from '../tracking/kv-keys.js';
import { openRunKey, runStateKey } from '../tracking/run-keys.js';
import { startOrigin } from './helpers/origin.js';
import { natsClient, pipelineConfig, startLambda, startNats, startS3, testConfig, testLogger, watchOutcomes } from './helpers/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const media = (segs: string[], ended: boolean) =>
  ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-PLAYLIST-TYPE:EVENT', '#EXT-X-TARGETDURATION:4', ...segs.flatMap((s) => ['#EXTINF:4,', s]), ...(ended ? ['#EXT-X-ENDLIST'] : []), ''].join('\n');

/** An aggregator alone, fed by hand. */
async function aggregatorAlone(natsUrl: string, dstEndpoint: string, sweepIntervalMs?: number, orphanAfterMs?: number) {
  const config = testConfig({ NATS_URL: natsUrl, FLANTS_SOURCE: 'http://origin.invalid/vod/', FLANTS_DEST: 's3://dest-bucket/', FLANTS_DEST_ENDPOINT: dstEndpoint });
  const nc = await natsClient(natsUrl);
  const t = topology(config.namespace);
  const jsm = await jetstreamManager(nc);
  await ensureTopology(jsm, t, topologyOptions(config), [t.consumers.aggregator]);
  const js = jetstream(nc);
  const outcomes: ClassTransferred[] = [];
  const sub = nc.subscribe(t.subjects.transferred);
  void (async () => {
    for await (const m of sub) outcomes.push(m.json<ClassTransferred>());
  })();
  const agg = await startAggregator({ js, jsm, kv: await openClassStateKv(nc, t), topology: t, config, logger: testLogger(), dest: makeS3Client(config.destS3), serverVersion: nc.info?.version, sweepIntervalMs, orphanAfterMs });
  const waitFor = async (n: number, ms = 10_000) => {
    const end = Date.now() + ms;
    while (outcomes.length < n && Date.now() < end) await sleep(50);
  };
  return { nc, t, js, jsm, outcomes, agg, waitFor, [Symbol.asyncDispose]: async () => (await agg.stop(), await nc.close()) };
}

describe('aggregator - review regressions', () => {
  it('aggregator - a live recording that ends between two attempts of one crawl is reported', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    await using lambda = await startLambda();
    await using origin = await startOrigin({ '/vod/c1/master.m3u8': media(['s0.ts', 's1.ts'], false), '/vod/c1/s0.ts': 'zero', '/vod/c1/s1.ts': 'one' });
    const config = pipelineConfig({ nats, origin, dest: dst, lambda }, { FLANTS_RETRY_BACKOFF: '2s', FLANTS_BATCH_WAIT: '50ms', FLANTS_LIVE_RECRAWL_INTERVAL: '300ms' });
    const t = topology(config.namespace);
    await using _daemon = await startDaemon({ config, logger: testLogger() });
    await using client = await natsClient(nats.url);
    const js = jetstream(client);
    const jsm = await jetstreamManager(client);
    const outcomes = watchOutcomes(client, t.subjects.transferred);
    const crawled: string[] = [];
    const csub = client.subscribe(t.subjects.crawled);
    void (async () => {
      for await (const m of csub) crawled.push(m.string());
    })();
    // The work queue holds one message: the trigger's crawl job fits, the next generation's does not.
    const si = await jsm.streams.info(t.streams.work);
    await jsm.streams.update(t.streams.work, { ...si.config, max_msgs: 1, discard: DiscardPolicy.New });
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'c1', manifest: 'c1/master.m3u8' }));
    for (let end = Date.now() + 15_000; crawled.length === 0 && Date.now() < end; ) await sleep(20);
    // The recording ends, and the stream takes messages again, before the retry.
    origin.files.set('/vod/c1/master.m3u8', Buffer.from(media(['s0.ts', 's1.ts'], true)));
    await jsm.streams.update(t.streams.work, { ...si.config, max_msgs: -1 });
    const got = await outcomes.of('c1', 1, 20_000);
    await sleep(300);
    expect(got.map((o) => [o.status, o.files])).toEqual([['complete', 3]]);
  }, 60_000);

  it('aggregator - a sliding-window recording that ends listing fewer files than before is reported', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    await using h = await aggregatorAlone(nats.url, dst.endpoint);
    const startedAt = new Date().toISOString();
    const crawled = (generation: number, total: number, live: string) =>
      h.js.publish(h.t.subjects.crawled, JSON.stringify({ classId: 'live', runId: '3-q', generation, total, playlists: 2, startedAt, live }));
    await crawled(0, 8, 'recrawl');
    await sleep(300);
    await crawled(1, 7, 'ended');
    for (let i = 0; i < 7; i++) {
      await h.js.publish(h.t.subjects.results, JSON.stringify({ results: [{ classId: 'live', runId: '3-q', i, key: `live/${i}`, ok: true, bytes: 1, attempt: 1, final: true }] }));
    }
    // A stale view arriving late changes nothing.
    await crawled(0, 8, 'recrawl');
    await h.waitFor(1);
    expect(h.outcomes.map((o) => [o.status, o.files])).toEqual([['complete', 7]]);
  }, 30_000);

  it('aggregator - a file index outside any class is poison: dead-lettered, and other classes go on', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    await using h = await aggregatorAlone(nats.url, dst.endpoint);
    const startedAt = new Date().toISOString();
    await h.js.publish(h.t.subjects.crawled, JSON.stringify({ classId: 'good', runId: '1-a', total: 1, playlists: 1, startedAt, live: 'ended' }));
    for (const i of [2 ** 27, 2 ** 31]) {
      await h.js.publish(h.t.subjects.results, JSON.stringify({ results: [{ classId: 'bad', runId: '2-b', i, key: 'k', ok: true, bytes: 1, attempt: 1, final: true }] }));
    }
    await h.js.publish(h.t.subjects.results, JSON.stringify({ results: [{ classId: 'good', runId: '1-a', i: 0, key: 'good/0', ok: true, bytes: 1, attempt: 1, final: true }] }));
    await h.waitFor(1);
    expect(h.outcomes.map((o) => [o.classId, o.status])).toEqual([['good', 'complete']]);
    const dl = await (await h.js.consumers.get(h.t.streams.deadletter)).fetch({ max_messages: 10, expires: 1_000 });
    const reasons: string[] = [];
    for await (const m of dl) reasons.push(m.json<DeadLetter>().reason);
    expect(reasons).toHaveLength(2);
    for (const r of reasons) expect(r).toMatch(/results\.0\.i/);
  }, 30_000);

  it('aggregator - results that arrive after the report leave no detail records behind', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    await using h = await aggregatorAlone(nats.url, dst.endpoint);
    await h.js.publish(h.t.subjects.classFailed, JSON.stringify({ classId: 'c', runId: '5-z', reason: 'crawl failed', startedAt: new Date().toISOString(), refused: [] }));
    await h.waitFor(1);
    for (let i = 0; i < 200; i++) {
      await h.js.publish(h.t.subjects.results, JSON.stringify({ results: [{ classId: 'c', runId: '5-z', i, key: `c/${i}.ts`, ok: false, bytes: 0, attempt: 1, final: false, error: 'HTTP 503' }] }));
    }
    for (let end = Date.now() + 10_000; Date.now() < end; ) {
      const ci = await h.jsm.consumers.info(h.t.streams.events, h.t.consumers.aggregator);
      if (ci.num_pending === 0 && ci.num_ack_pending === 0) break;
      await sleep(100);
    }
    expect(await keysUnder(h.jsm, h.t.kv.classes, 'detail.')).toEqual([]);
    expect(h.outcomes).toHaveLength(1);
  }, 30_000);

  it('aggregator - the sweep reports a run that finished but was never reported, and leaves no consumer behind', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    await using h = await aggregatorAlone(nats.url, dst.endpoint, 200);
    const kv = await openClassStateKv(h.nc, h.t);
    // What a crash between finishing a run and reporting it leaves: a finished state and its open record.
    const p = new ClassProgress('orphan', '9-a', new Date().toISOString());
    p.applyClassFailed({ classId: 'orphan', runId: '9-a', reason: 'crawl failed', startedAt: p.startedAt, refused: [] }, new Date().toISOString());
    await kv.put(runStateKey('orphan', '9-a'), JSON.stringify(p.toJSON()));
    await kv.put(openRunKey('orphan', '9-a'), JSON.stringify({ classId: 'orphan', runId: '9-a' }));
    await h.waitFor(1);
    expect(h.outcomes.map((o) => [o.classId, o.status])).toEqual([['orphan', 'failed']]);
    // Several more sweeps (every 200 ms): none leaves a consumer on the bucket's stream, and the open record goes.
    await sleep(1_500);
    expect(await keysUnder(h.jsm, h.t.kv.classes, 'open.')).toEqual([]);
    const si = await h.jsm.streams.info(`KV_${h.t.kv.classes}`);
    expect(si.state.consumer_count).toBe(0);
    expect(h.outcomes).toHaveLength(1);
  }, 30_000);

  it('aggregator - results of a run whose crawl never arrives are reported failed, not left open; a run whose crawl did is left alone', async () => {
    // What a crawl event lost (dead-lettered as too large) or a job naming a run that never existed leaves: results
    // and nothing to count them against. Before, the run stayed open for good and its class was never reported.
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    await using h = await aggregatorAlone(nats.url, dst.endpoint, 200, 1_500);
    const result = (classId: string, runId: string, i: number, ok: boolean) =>
      h.js.publish(h.t.subjects.results, JSON.stringify({ results: [{ classId, runId, i, key: `${classId}/${i}.ts`, ok, bytes: 1, attempt: 1, final: true, error: ok ? undefined : 'HTTP 404' }] }));
    await h.js.publish(h.t.subjects.crawled, JSON.stringify({ classId: 'real', runId: '4-r', generation: 0, total: 3, playlists: 1, startedAt: new Date().toISOString(), live: 'ended' }));
    await result('real', '4-r', 0, true);
    await result('ghost', '7-q', 0, true);
    await result('ghost', '7-q', 1, false);
    await h.waitFor(1, 15_000);
    await sleep(2_000); // past the orphan time for the run that has its crawl too
    expect(h.outcomes.map((o) => [o.classId, o.status])).toEqual([['ghost', 'failed']]);
    expect(h.outcomes[0]?.reason).toMatch(/results for 2 file\(s\) \(1 copied, 1 failed\) arrived, but not the crawl that counts the class's files/);
    expect(await keysUnder(h.jsm, h.t.kv.classes, 'open.')).toEqual([openRunKey('real', '4-r')]);
  }, 30_000);
});
