/**
 * Accounting on real parts (nats-server, HTTP origin, S3 endpoint, local
 * Lambda): every trigger gets exactly one truthful outcome, every file is
 * accounted for, and no list, however long, breaks a message or a state.
 */
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { S3Server } from '../dev/local/s3-server.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology, type Topology } from '../streams/topology.js';
import { keysUnder } from '../tracking/kv-keys.js';
import { detailPrefix, openRunKey, runStateKey } from '../tracking/run-keys.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { getObject, listKeys, natsClient, pipelineConfig, s3For, startLambda, startNats, startS3, testLogger, watchOutcomes, type Outcomes } from './helpers/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const media = (segs: string[], ended: boolean) =>
  ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-PLAYLIST-TYPE:EVENT', '#EXT-X-TARGETDURATION:4', ...segs.flatMap((s) => ['#EXTINF:4,', s]), ...(ended ? ['#EXT-X-ENDLIST'] : []), ''].join('\n');

describe('accounting - every trigger answered once, every file accounted for', () => {
  let nats: NatsServer;
  let dst: S3Server;
  let lambda: LocalLambda;
  let origin: Origin;
  let daemon: Daemon;
  let t: Topology;
  let client: Awaited<ReturnType<typeof natsClient>>;
  let js: JetStreamClient;
  let outcomes: Outcomes;
  const outcomesOf = (classId: string, n = 1, timeoutMs = 60_000) => outcomes.of(classId, n, timeoutMs);
  const trigger = (classId: string) => js.publish(t.subjects.recorded, JSON.stringify({ classId, manifest: `${classId}/master.m3u8` }));

  beforeAll(async () => {
    [nats, dst, lambda] = await Promise.all([startNats(), startS3('dest-bucket'), startLambda()]);
    origin = await startOrigin({});
    const config = pipelineConfig({ nats, origin, dest: dst, lambda }, { FLANTS_RETRY_BACKOFF: '50ms', FLANTS_BATCH_WAIT: '50ms', FLANTS_LIVE_RECRAWL_INTERVAL: '300ms' });
    t = topology(config.namespace);
    daemon = await startDaemon({ config, logger: testLogger() });
    client = await natsClient(nats.url);
    js = jetstream(client);
    outcomes = watchOutcomes(client, t.subjects.transferred);
  });

  afterAll(async () => {
    await daemon?.stop();
    await client?.close();
    await Promise.all([lambda?.close(), dst?.close(), nats?.close(), origin?.close()]);
  });

  const put = (path: string, body: string) => origin.files.set(path, Buffer.from(body));

  it('accounting - a live recording growing in two renditions ends with every segment once and final playlists', async () => {
    put('/vod/live/master.m3u8', '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\nb/index.m3u8\n');
    for (const r of ['a', 'b']) {
      for (let i = 0; i < 4; i++) put(`/vod/live/${r}/s${i}.ts`, `${r}${i}`.repeat(50));
      put(`/vod/live/${r}/index.m3u8`, media(['s0.ts', 's1.ts'], false));
    }
    await trigger('live');
    await sleep(1_000); // a couple of crawls of the live recording
    for (const r of ['a', 'b']) put(`/vod/live/${r}/index.m3u8`, media(['s0.ts', 's1.ts', 's2.ts', 's3.ts'], true));
    const [o] = await outcomesOf('live', 1, 30_000);
    expect(o?.status).toBe('complete');
    expect(o?.files).toBe(11);
    const s3 = s3For(dst);
    for (const r of ['a', 'b']) {
      expect((await getObject(s3, 'dest-bucket', `live/${r}/index.m3u8`)).toString()).toBe(origin.files.get(`/vod/live/${r}/index.m3u8`)?.toString());
      for (let i = 0; i < 4; i++) expect((await getObject(s3, 'dest-bucket', `live/${r}/s${i}.ts`)).toString()).toBe(`${r}${i}`.repeat(50));
    }
    // Each segment fetched once: nothing copied twice.
    const gets = origin.requests.filter((p) => /^\/vod\/live\/[ab]\/s\d\.ts/.test(p));
    expect(gets.length).toBe(new Set(gets).size);
  });

  it('accounting - two triggers of one class 400 ms apart are two runs, each with its own outcome', async () => {
    put('/vod/twice/master.m3u8', media(['x.ts'], true));
    put('/vod/twice/x.ts', 'x');
    await trigger('twice');
    await sleep(400);
    await trigger('twice');
    const runs = await outcomesOf('twice', 2, 30_000);
    await sleep(500);
    expect(outcomes.byClass.get('twice')).toHaveLength(2);
    expect(new Set(runs.map((r) => r.runId)).size).toBe(2);
    for (const r of runs) expect(r.status).toBe('complete');
  });

  it('accounting - 6,000 refused URIs: the class is reported, not complete, with every refusal in its report', async () => {
    const segs = Array.from({ length: 6_000 }, (_, i) => `https://elsewhere.example.com/very/long/path/to/segment-number-${i}.ts?token=secret${i}`);
    put('/vod/refused/master.m3u8', media(segs, true));
    await trigger('refused');
    const [o] = await outcomesOf('refused', 1, 60_000);
    expect(o?.status).toBe('failed');
    expect(o?.refused).toBe(6_000);
    expect(o?.reason).toMatch(/6000 referenced URI\(s\) refused/);
    const report = JSON.parse((await getObject(s3For(dst), 'dest-bucket', o?.reportKey as string)).toString()) as { refused: Array<{ uri: string }> };
    expect(report.refused).toHaveLength(6_000);
    expect(JSON.stringify(report)).not.toContain('secret');
  });

  it('accounting - a class whose segments are all on another host is not complete', async () => {
    put('/vod/offsite/master.m3u8', media(['https://cdn.other.example/a.ts', 'https://cdn.other.example/b.ts'], true));
    await trigger('offsite');
    const [o] = await outcomesOf('offsite');
    expect(o?.status).not.toBe('complete');
    expect(o?.refused).toBe(2);
  });

  it('accounting - 400 files failing every attempt keep the run state small and the report whole', async () => {
    const segs = Array.from({ length: 400 }, (_, i) => `gone-${i}.ts`);
    put('/vod/failing/master.m3u8', media(segs, true));
    for (const s of segs) origin.faults.set(`/vod/failing/${s}`, { status: 500, times: 1_000 });
    await trigger('failing');
    const [o] = await outcomesOf('failing', 1, 90_000);
    expect(o?.status).toBe('failed');
    expect(o?.files).toBe(401);
    expect(o?.failed).toHaveLength(100); // the event lists a bounded sample
    const report = JSON.parse((await getObject(s3For(dst), 'dest-bucket', o?.reportKey as string)).toString()) as { failed: Array<{ key: string; reasons: string[] }> };
    expect(report.failed).toHaveLength(400);
    for (const f of report.failed) expect(f.reasons).toHaveLength(3);
    const kv = await new Kvm(client).open(t.kv.classes);
    const state = await kv.get(runStateKey('failing', o?.runId as string));
    expect(state?.length).toBeLessThan(16 * 1024);
    // Reported: its detail records are purged and it is no longer among the open runs the sweep reads.
    const jsm = await jetstreamManager(client);
    await sleep(200);
    expect(await keysUnder(jsm, t.kv.classes, detailPrefix('failing', o?.runId as string))).toEqual([]);
    expect(await keysUnder(jsm, t.kv.classes, 'open.')).not.toContain(openRunKey('failing', o?.runId as string));
  });

});

describe('accounting - waves bigger than a NATS message', () => {
  it('accounting - 1,500 results of one wave are all counted, in messages that fit', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    await using lambda = await startLambda();
    const name = (i: number) => `${'long-segment-name-'.repeat(8)}${i}.ts`;
    const files: Record<string, string> = { '/vod/big/master.m3u8': media(Array.from({ length: 1_499 }, (_, i) => name(i)), true) };
    for (let i = 0; i < 1_499; i++) files[`/vod/big/${name(i)}`] = String(i);
    await using origin = await startOrigin(files);
    const config = pipelineConfig({ nats, origin, dest: dst, lambda }, {
      FLANTS_BATCH_SIZE: '1500',
      FLANTS_BATCH_WAIT: '2s',
      FLANTS_WAVE_CONCURRENCY: '1',
    });
    const t = topology(config.namespace);
    await using daemon = await startDaemon({ config, logger: testLogger() });
    await using client = await natsClient(nats.url);
    const sub = client.subscribe(t.subjects.transferred, { max: 1 });
    await jetstream(client).publish(t.subjects.recorded, JSON.stringify({ classId: 'big', manifest: 'big/master.m3u8' }));
    let o: ClassTransferred | undefined;
    for await (const m of sub) o = m.json<ClassTransferred>();
    expect(o?.status).toBe('complete');
    expect(o?.files).toBe(1_500);
    expect(daemon.dispatcher?.dispatch.waves).toBeLessThanOrEqual(2);
    const dl = await (await jetstreamManager(client)).streams.info(t.streams.deadletter);
    expect(dl.state.messages).toBe(0);
    expect((await listKeys(s3For(dst), 'dest-bucket')).filter((k) => k.startsWith('big/'))).toHaveLength(1_500);
  }, 120_000);
});

describe('accounting - a refused enqueue is never lost', () => {
  it('accounting - when the work stream refuses some of a crawl\'s jobs, the crawl is not acked as done and the class is reported', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    const segs = Array.from({ length: 10 }, (_, i) => `s${i}.ts`);
    const files: Record<string, string> = { '/vod/full/master.m3u8': media(segs, true) };
    for (const s of segs) files[`/vod/full/${s}`] = s;
    await using origin = await startOrigin(files);
    const config = pipelineConfig({ nats, origin, dest: dst }, {
      FLANTS_RETRY_BACKOFF: '50ms',
    });
    const t = topology(config.namespace);
    // No dispatcher: nothing drains the queue, so the stream stays full.
    await using _daemon = await startDaemon({ config, logger: testLogger(), actors: ['scanner', 'crawler', 'aggregator'] });
    await using client = await natsClient(nats.url);
    const jsm = await jetstreamManager(client);
    const info = await jsm.streams.info(t.streams.work);
    // Room for the crawl job and a few transfer jobs; past that, publishes are refused.
    await jsm.streams.update(t.streams.work, { ...info.config, max_msgs_per_subject: 4, discard: 'new' as never, discard_new_per_subject: true });
    const sub = client.subscribe(t.subjects.transferred, { max: 1 });
    await jetstream(client).publish(t.subjects.recorded, JSON.stringify({ classId: 'full', manifest: 'full/master.m3u8' }));
    let o: ClassTransferred | undefined;
    const timer = setTimeout(() => sub.unsubscribe(), 30_000);
    for await (const m of sub) o = m.json<ClassTransferred>();
    clearTimeout(timer);
    expect(o?.status).toBe('failed');
    expect(o?.reason).toMatch(/crawl failed/);
  }, 60_000);
});

describe('accounting - runs after the trigger stream is recreated', () => {
  it('accounting - a class triggered again after FLANTS_CLASSES was recreated is transferred and reported again', async () => {
    await using nats = await startNats();
    await using dst = await startS3('dest-bucket');
    await using lambda = await startLambda();
    await using origin = await startOrigin({ '/vod/old/master.m3u8': media(['a.ts'], true), '/vod/old/a.ts': 'a' });
    const config = pipelineConfig({ nats, origin, dest: dst, lambda }, {
    });
    const t = topology(config.namespace);
    await using client = await natsClient(nats.url);
    const once = async () => {
      const sub = client.subscribe(t.subjects.transferred, { max: 1 });
      const timer = setTimeout(() => sub.unsubscribe(), 30_000);
      await jetstream(client).publish(t.subjects.recorded, JSON.stringify({ classId: 'old', manifest: 'old/master.m3u8' }));
      let o: ClassTransferred | undefined;
      for await (const m of sub) o = m.json<ClassTransferred>();
      clearTimeout(timer);
      return o;
    };
    const first = await (async () => {
      await using _d = await startDaemon({ config, logger: testLogger() });
      return once();
    })();
    expect(first?.status).toBe('complete');
    // An operator recreates the trigger stream: sequences start again at 1.
    await (await jetstreamManager(client)).streams.delete(t.streams.classes);
    await using _d2 = await startDaemon({ config, logger: testLogger() });
    const second = await once();
    expect(second?.status).toBe('complete');
    expect(second?.runId).not.toBe(first?.runId);
  }, 90_000);
});
