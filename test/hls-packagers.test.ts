/**
 * Crawler end to end on real packager output (ffmpeg): fMP4 with init segments
 * and an audio group, AES-128 with a key file, single-file byte ranges and
 * WebVTT subtitles. Every referenced file must arrive identical, and nothing
 * else. Also: EXT-X-GAP segments, and recordings that are still live. The
 * destination is a bucket on the run's Ceph RADOS Gateway.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology, type Topology } from '../streams/topology.js';
import { makeFfmpegFixtures, type Fixtures } from './helpers/ffmpeg-fixtures.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { getObject, listKeys, natsClient, startLambda, startNats, startRgwBucket, testConfig, testLogger, type RgwBucket, useRgwCredentials } from './helpers/services.js';

useRgwCredentials();

describe('crawler - real packager output, end to end', () => {
  let fixtures: Fixtures;
  let nats: NatsServer;
  let dst: RgwBucket;
  let lambda: LocalLambda;
  let origin: Origin;
  const daemons: Daemon[] = [];
  let client: Awaited<ReturnType<typeof natsClient>>;
  let js: JetStreamClient;
  const outcomes = new Map<string, ClassTransferred>();

  const start = async (bucketPrefix: string, env: Record<string, string> = {}): Promise<Topology> => {
    const config = testConfig({
      NATS_URL: nats.url,
      FLANTS_SOURCE: `${origin.url}/vod/`,
      FLANTS_DEST: `s3://${dst.name}/${bucketPrefix}`,
      FLANTS_DEST_ENDPOINT: dst.endpoint,
      FLANTS_LAMBDA_ENDPOINT: lambda.url,
      FLANTS_BATCH_WAIT: '50ms',
      ...env,
    });
    daemons.push(await startDaemon({ config, logger: testLogger() }));
    const t = topology(config.namespace);
    const sub = client.subscribe(t.subjects.transferred);
    void (async () => {
      for await (const m of sub) {
        const e = m.json<ClassTransferred>();
        outcomes.set(`${bucketPrefix}${e.classId}`, e);
      }
    })();
    return t;
  };

  const outcome = async (key: string, timeoutMs = 60_000) => {
    for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      const e = outcomes.get(key);
      if (e) return e;
    }
    throw new Error(`no outcome for ${key}`);
  };

  beforeAll(async () => {
    fixtures = makeFfmpegFixtures();
    [nats, dst, lambda] = await Promise.all([startNats(), startRgwBucket('dest'), startLambda()]);
    const files: Record<string, Buffer> = {};
    for (const [name, c] of Object.entries(fixtures.classes)) {
      for (const f of c.files) files[`/vod/${name}/${f}`] = readFileSync(join(fixtures.root, name, f));
      files[`/vod/${name}/unreferenced.bin`] = Buffer.from('not in any playlist');
    }
    origin = await startOrigin(files);
    client = await natsClient(nats.url);
    js = jetstream(client);
  }, 120_000);

  afterAll(async () => {
    for (const d of daemons) await d.stop();
    await client?.close();
    await Promise.all([lambda?.close(), nats?.close(), origin?.close()]);
  });

  it('crawler - transfers fMP4, AES-128, byte-range and WebVTT packagings completely and exactly', async () => {
    const t = await start('pkg/');
    for (const [name, c] of Object.entries(fixtures.classes)) {
      await js.publish(t.subjects.recorded, JSON.stringify({ classId: name, manifest: `${name}/${c.entry}` }));
    }
    const keys = await (async () => {
      for (const name of Object.keys(fixtures.classes)) expect((await outcome(`pkg/${name}`)).status).toBe('complete');
      return listKeys(dst.s3, dst.name);
    })();
    for (const [name, c] of Object.entries(fixtures.classes)) {
      const copied = keys.filter((k) => k.startsWith(`pkg/${name}/`)).map((k) => k.slice(`pkg/${name}/`.length)).sort();
      expect(copied, name).toEqual(c.files);
      expect(c.files.length, name).toBeGreaterThan(3);
      for (const f of c.files) {
        const got = await getObject(dst.s3, dst.name, `pkg/${name}/${f}`);
        expect(got.equals(readFileSync(join(fixtures.root, name, f))), `${name}/${f}`).toBe(true);
      }
      expect((await outcome(`pkg/${name}`)).files).toBe(c.files.length);
    }
    // The byte-range packaging is one media file per rendition, copied once each.
    expect(fixtures.classes.single?.files.filter((f) => f.endsWith('.ts'))).toHaveLength(2);
  });

  it('crawler - a missing EXT-X-GAP segment is not a failure, and is noted in the report', async () => {
    origin.files.set('/vod/gappy/index.m3u8', Buffer.from(
      ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 's0.ts', '#EXT-X-GAP', '#EXTINF:4,', 's1.ts', '#EXTINF:4,', 's2.ts', '#EXT-X-ENDLIST', ''].join('\n'),
    ));
    origin.files.set('/vod/gappy/s0.ts', Buffer.from('zero'));
    origin.files.set('/vod/gappy/s2.ts', Buffer.from('two'));
    const t = await start('gap/');
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'gappy', manifest: 'gappy/index.m3u8' }));
    const e = await outcome('gap/gappy');
    expect(e.status).toBe('complete');
    expect(e.files).toBe(4);
    const report = JSON.parse((await getObject(dst.s3, dst.name, e.reportKey)).toString());
    expect(report.notes).toEqual([{ key: 'gappy/s1.ts', note: expect.stringMatching(/optional file missing.*404/) }]);
  });

  it('crawler - a recording without EXT-X-ENDLIST is never complete until it ends; it is re-crawled meanwhile', async () => {
    const lines = ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXT-X-PLAYLIST-TYPE:EVENT', '#EXTINF:4,', 'l0.ts', '#EXTINF:4,', 'l1.ts'];
    origin.files.set('/vod/rec/index.m3u8', Buffer.from(`${lines.join('\n')}\n`));
    for (let i = 0; i < 4; i++) origin.files.set(`/vod/rec/l${i}.ts`, Buffer.from(`live ${i}`.repeat(100)));
    const t = await start('live/', { FLANTS_LIVE_RECRAWL_INTERVAL: '300ms' });
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'rec', manifest: 'rec/index.m3u8' }));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(outcomes.has('live/rec')).toBe(false);
    const crawls = () => origin.requests.filter((r) => r === 'GET /vod/rec/index.m3u8').length;
    expect(crawls()).toBeGreaterThanOrEqual(3);
    lines.push('#EXTINF:4,', 'l2.ts', '#EXTINF:4,', 'l3.ts', '#EXT-X-ENDLIST');
    origin.files.set('/vod/rec/index.m3u8', Buffer.from(`${lines.join('\n')}\n`));
    const e = await outcome('live/rec');
    expect(e.status).toBe('complete');
    expect(e.files).toBe(5);
    const keys = (await listKeys(dst.s3, dst.name)).filter((k) => k.startsWith('live/rec/')).sort();
    expect(keys).toEqual(['live/rec/index.m3u8', 'live/rec/l0.ts', 'live/rec/l1.ts', 'live/rec/l2.ts', 'live/rec/l3.ts']);
    // Each segment was fetched once: re-crawls enqueue only new files.
    for (let i = 0; i < 4; i++) expect(origin.requests.filter((r) => r === `GET /vod/rec/l${i}.ts`)).toHaveLength(1);
  });

  // A recorder that crashed: the playlist never changes again and never ends. From the second review: an origin that
  // puts a fresh token in every URI on every fetch is a recording that stopped too.
  it.each([
    ['plain', false],
    ['with a fresh token in every URI at every fetch', true],
  ] as const)('crawler - a recording that stops changing without EXT-X-ENDLIST (%s) is given up on after FLANTS_LIVE_STALE_AFTER, not FLANTS_LIVE_MAX_WAIT', async (_, tokens) => {
    const id = tokens ? 'crashedtok' : 'crashed';
    let fetches = 0;
    const playlist = () =>
      ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXT-X-PLAYLIST-TYPE:EVENT', '#EXTINF:4,', `c0.ts${tokens ? `?token=${fetches}` : ''}`, '#EXTINF:4,', `c1.ts${tokens ? `?token=${fetches}` : ''}`, ''].join('\n');
    origin.files.set(`/vod/${id}/index.m3u8`, Buffer.from(playlist()));
    const rotate = setInterval(() => {
      fetches++;
      origin.files.set(`/vod/${id}/index.m3u8`, Buffer.from(playlist()));
    }, 50);
    for (let i = 0; i < 2; i++) origin.files.set(`/vod/${id}/c${i}.ts`, Buffer.from(`crashed ${i}`));
    try {
      const t = await start(`stale${id}/`, { FLANTS_LIVE_RECRAWL_INTERVAL: '300ms', FLANTS_LIVE_STALE_AFTER: '2s' });
      const triggered = Date.now();
      await js.publish(t.subjects.recorded, JSON.stringify({ classId: id, manifest: `${id}/index.m3u8` }));
      const e = await outcome(`stale${id}/${id}`, 30_000);
      const tookMs = Date.now() - triggered;
      console.log(`stale recording (${_}): reported ${e.status} ${tookMs} ms after its trigger (FLANTS_LIVE_STALE_AFTER 2s, FLANTS_LIVE_MAX_WAIT 6h)`);
      expect(e.status).toBe('incomplete');
      expect(e.files).toBe(3);
      // Watched for the stale time first, not given up at its first look.
      expect(tookMs).toBeGreaterThanOrEqual(2_000);
      expect(origin.requests.filter((r) => r === `GET /vod/${id}/index.m3u8`).length).toBeGreaterThanOrEqual(5);
      const keys = (await listKeys(dst.s3, dst.name)).filter((k) => k.startsWith(`stale${id}/${id}/`)).sort();
      expect(keys).toEqual([`stale${id}/${id}/c0.ts`, `stale${id}/${id}/c1.ts`, `stale${id}/${id}/index.m3u8`]);
    } finally {
      clearInterval(rotate);
    }
  });

  // Each recording grows for 4.8 s in all, never pausing longer than 600 ms, against a stale time of 1.5 s.
  // From the review: a growing byte-range file keeps its name, and a repair run sees only the files it repairs.
  it.each([
    ['new segments', 'segments', undefined, 9],
    ['one byte-range file that grows', 'ranges', undefined, 2],
    ['a repair run of one segment', 'repair', ['growrepair/g0.ts'], 1],
  ] as const)('crawler - a recording that keeps growing (%s) for longer than FLANTS_LIVE_STALE_AFTER is watched until it ends', async (_, shape, files, expected) => {
    const id = `grow${shape}`;
    const n = 8;
    const lines = ['#EXTM3U', '#EXT-X-VERSION:4', '#EXT-X-TARGETDURATION:4', '#EXT-X-PLAYLIST-TYPE:EVENT'];
    const addSegment = (i: number) =>
      shape === 'ranges' ? lines.push('#EXTINF:4,', `#EXT-X-BYTERANGE:10@${i * 10}`, 'all.ts') : lines.push('#EXTINF:4,', `g${i}.ts`);
    const publishPlaylist = () => origin.files.set(`/vod/${id}/index.m3u8`, Buffer.from(`${lines.join('\n')}\n`));
    for (let i = 0; i < n; i++) origin.files.set(`/vod/${id}/g${i}.ts`, Buffer.from(`growing ${i}`));
    origin.files.set(`/vod/${id}/all.ts`, Buffer.from('0123456789'.repeat(n)));
    addSegment(0);
    publishPlaylist();
    const t = await start(`${id}/`, { FLANTS_LIVE_RECRAWL_INTERVAL: '200ms', FLANTS_LIVE_STALE_AFTER: '1500ms' });
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: id, manifest: `${id}/index.m3u8`, files }));
    for (let i = 1; i < n; i++) {
      await new Promise((r) => setTimeout(r, 600));
      expect(outcomes.has(`${id}/${id}`)).toBe(false);
      addSegment(i);
      publishPlaylist();
    }
    await new Promise((r) => setTimeout(r, 600));
    expect(outcomes.has(`${id}/${id}`)).toBe(false);
    lines.push('#EXT-X-ENDLIST');
    publishPlaylist();
    const e = await outcome(`${id}/${id}`, 30_000);
    expect(e.status).toBe('complete');
    expect(e.files).toBe(expected);
  });

  it('crawler - with FLANTS_LIVE=incomplete a live recording is reported incomplete, never complete', async () => {
    origin.files.set('/vod/open/index.m3u8', Buffer.from(['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 'o0.ts', ''].join('\n')));
    origin.files.set('/vod/open/o0.ts', Buffer.from('open'));
    const t = await start('inc/', { FLANTS_LIVE: 'incomplete' });
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'open', manifest: 'open/index.m3u8' }));
    const e = await outcome('inc/open');
    expect(e.status).toBe('incomplete');
    expect(e.files).toBe(2);
  });
});
