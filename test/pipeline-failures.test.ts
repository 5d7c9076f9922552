/**
 * Per-item outcomes on real parts, from an HTTP origin with injected faults:
 * a flaky file is retried alone, a missing file fails at once, a file that
 * keeps failing uses its attempts and is reported with every reason. Poison
 * messages are dead-lettered and the consumers keep going.
 */
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { S3Server } from '../dev/local/s3-server.js';
import { MAX_PAYLOAD_BYTES, type ClassTransferred, type DeadLetter } from '../streams/messages.js';
import { topology, type Topology } from '../streams/topology.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { getObject, listKeys, natsClient, s3For, startLambda, startNats, startS3, pipelineConfig, testLogger } from './helpers/services.js';

const media = (n: number) =>
  ['#EXTM3U', '#EXT-X-TARGETDURATION:4', ...Array.from({ length: n }, (_, i) => [`#EXTINF:4,`, `seg${i}.ts`]).flat(), '#EXT-X-ENDLIST', ''].join('\n');

describe('pipeline - per-item retries, failures and poison messages', () => {
  let nats: NatsServer;
  let dst: S3Server;
  let lambda: LocalLambda;
  let origin: Origin;
  let daemon: Daemon;
  let dispatcherAgain: Daemon | undefined;
  let config: ReturnType<typeof pipelineConfig>;
  let t: Topology;
  let client: Awaited<ReturnType<typeof natsClient>>;
  let js: JetStreamClient;
  const outcomes = new Map<string, ClassTransferred[]>();

  const waitFor = async (classId: string, timeoutMs = 60_000): Promise<ClassTransferred> => {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const got = outcomes.get(classId);
      if (got?.length) return got[0] as ClassTransferred;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no class.transferred for ${classId} within ${timeoutMs} ms`);
  };

  beforeAll(async () => {
    [nats, dst, lambda] = await Promise.all([startNats(), startS3('dest-bucket'), startLambda()]);
    const files: Record<string, string> = {
      '/vod/mixed/master.m3u8': '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n',
      '/vod/mixed/v/index.m3u8': media(5),
      '/vod/ok/master.m3u8': '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n',
      '/vod/ok/v/index.m3u8': media(2),
    };
    for (let i = 0; i < 5; i++) if (i !== 3) files[`/vod/mixed/v/seg${i}.ts`] = `segment ${i} `.repeat(100 * (i + 1));
    for (let i = 0; i < 2; i++) files[`/vod/ok/v/seg${i}.ts`] = `ok ${i}`;
    // From a review: a segment URI past a job message's size was enqueued, dead-lettered, and its class never reported.
    files['/vod/longuri/master.m3u8'] = ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 's0.ts', '#EXTINF:4,', `s1.ts?token=${'a'.repeat(270_000)}`, '#EXT-X-ENDLIST', ''].join('\n');
    files['/vod/longuri/s0.ts'] = 'zero';
    files['/vod/longuri/s1.ts'] = 'one';
    // A rendition under a 14,000-character folder that names 25 files off the origin: each refusal names it.
    const deep = `longpath/${'d'.repeat(14_000)}/media.m3u8`;
    files['/vod/longpath/master.m3u8'] = ['#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1000', deep.slice('longpath/'.length), ''].join('\n');
    files[`/vod/${deep}`] = ['#EXTM3U', '#EXT-X-TARGETDURATION:4', ...Array.from({ length: 25 }, (_, i) => `#EXTINF:4,\nhttp://elsewhere.example/s${i}.ts`), '#EXT-X-ENDLIST', ''].join('\n');
    // Eight nested masters under 14,000-character folders, each naming itself: each cycle's entry quoted its path
    // three times, unbounded, so `class crawled` outgrew a message (a review).
    const loops = Array.from({ length: 8 }, (_, i) => `${i}${'c'.repeat(14_000)}`);
    files['/vod/cycles/master.m3u8'] = ['#EXTM3U', ...loops.map((l) => `#EXT-X-STREAM-INF:BANDWIDTH=1000\n${l}/m.m3u8`), ''].join('\n');
    for (const l of loops) {
      files[`/vod/cycles/${l}/m.m3u8`] = ['#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1000', 'm.m3u8', '#EXT-X-STREAM-INF:BANDWIDTH=500', 'v.m3u8', ''].join('\n');
      files[`/vod/cycles/${l}/v.m3u8`] = ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 's.ts', '#EXT-X-ENDLIST', ''].join('\n');
      files[`/vod/cycles/${l}/s.ts`] = l.slice(0, 1);
    }
    // 200 refusals in a rendition under a CJK folder, each naming a URI of CJK and control characters: bounded in
    // characters, about 1.5 KB of JSON each (3 bytes a CJK character, 6 an escaped control character), so 200 of them made one `class details` message larger than NATS takes (a review).
    const wide = `${'講'.repeat(300)}/media.m3u8`;
    files['/vod/cjk/master.m3u8'] = ['#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1000', wide, ''].join('\n');
    files[`/vod/cjk/${wide}`] = ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 'ok.ts', ...Array.from({ length: 200 }, (_, i) => `#EXTINF:4,\nhttp://elsewhere.example/${i}/${'\u0001義'.repeat(150)}.ts`), '#EXT-X-ENDLIST', ''].join('\n');
    files[`/vod/cjk/${'講'.repeat(300)}/ok.ts`] = 'ok';
    files['/vod/named/master.m3u8'] = ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 's0.ts', '#EXTINF:4,', 's1.ts', '#EXT-X-ENDLIST', ''].join('\n');
    files['/vod/named/s0.ts'] = 'zero';
    files['/vod/named/s1.ts'] = 'one';
    files['/vod/repair/master.m3u8'] = files['/vod/named/master.m3u8'];
    origin = await startOrigin(files);
    origin.faults.set('/vod/mixed/v/seg1.ts', { status: 503, times: 1 });
    origin.faults.set('/vod/mixed/v/seg4.ts', { status: 500, times: 100 });
    config = pipelineConfig({ nats, origin, dest: dst, lambda }, {
      FLANTS_RETRY_BACKOFF: '100ms,200ms',
      FLANTS_BATCH_WAIT: '50ms',
    });
    t = topology(config.namespace);
    daemon = await startDaemon({ config, logger: testLogger() });
    client = await natsClient(nats.url);
    js = jetstream(client);
    const sub = client.subscribe(t.subjects.transferred);
    void (async () => {
      for await (const m of sub) {
        const e = m.json<ClassTransferred>();
        outcomes.set(e.classId, [...(outcomes.get(e.classId) ?? []), e]);
      }
    })();
  });

  afterAll(async () => {
    await dispatcherAgain?.stop();
    await daemon?.stop();
    await client?.close();
    await Promise.all([lambda?.close(), dst?.close(), nats?.close(), origin?.close()]);
  });

  it('pipeline - retries only the failing files and reports each failure with every attempt', async () => {
    await js.publish(t.subjects.recorded, 'mixed');
    const e = await waitFor('mixed');
    expect(e.status).toBe('failed');
    expect(e.files).toBe(7);
    const byKey = Object.fromEntries(e.failed.map((f) => [f.key, f.reasons]));
    expect(Object.keys(byKey).sort()).toEqual(['mixed/v/seg3.ts', 'mixed/v/seg4.ts']);
    expect(byKey['mixed/v/seg3.ts']).toEqual([expect.stringMatching(/^attempt 1: .*HTTP 404/)]);
    expect(byKey['mixed/v/seg4.ts']).toEqual([
      expect.stringMatching(/^attempt 1: .*HTTP 500/),
      expect.stringMatching(/^attempt 2: .*HTTP 500/),
      expect.stringMatching(/^attempt 3: .*HTTP 500/),
    ]);
    const count = (p: string) => origin.requests.filter((r) => r === `GET ${p}`).length;
    expect(count('/vod/mixed/v/seg0.ts')).toBe(1);
    expect(count('/vod/mixed/v/seg1.ts')).toBe(2);
    expect(count('/vod/mixed/v/seg3.ts')).toBe(1);
    expect(count('/vod/mixed/v/seg4.ts')).toBe(3);
    const copied = (await listKeys(s3For(dst), 'dest-bucket')).filter((k) => k.startsWith('mixed/')).sort();
    expect(copied).toEqual(['mixed/master.m3u8', 'mixed/v/index.m3u8', 'mixed/v/seg0.ts', 'mixed/v/seg1.ts', 'mixed/v/seg2.ts']);
    const expectedBytes = copied.reduce((n, k) => n + (origin.files.get(`/vod/${k}`)?.length ?? 0), 0);
    expect(e.bytes).toBe(expectedBytes);
    const report = JSON.parse((await getObject(s3For(dst), 'dest-bucket', e.reportKey)).toString());
    expect(report.failed.map((f: { key: string }) => f.key).sort()).toEqual(['mixed/v/seg3.ts', 'mixed/v/seg4.ts']);
    expect(report.retries).toBe(3);
  });

  it('pipeline - a class whose entry playlist is missing is reported failed, with the reason', async () => {
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'ghost' }));
    const e = await waitFor('ghost');
    expect(e.status).toBe('failed');
    expect(e.reason).toMatch(/entry playlist ghost\/master.m3u8 not found/);
  });

  it('pipeline - poison messages are dead-lettered with reasons and the consumers keep going', async () => {
    const poison = [
      '{"classId":',
      JSON.stringify({ classId: 5 }),
      JSON.stringify({ classId: 'x', extra: true }),
      JSON.stringify({ classId: '../../etc' }),
      '<script>alert(1)</script>',
      'x'.repeat(300 * 1024),
    ];
    for (const p of poison) await js.publish(t.subjects.recorded, p);
    await js.publish(t.subjects.transfer, '{"not":"a job"}');
    await js.publish(t.subjects.results, 'garbage');
    await js.publish(t.subjects.recorded, 'ok');
    const e = await waitFor('ok');
    expect(e.status).toBe('complete');
    expect(e.files).toBe(4);
    const records: DeadLetter[] = [];
    const consumer = await js.consumers.get(t.streams.deadletter);
    const until = Date.now() + 10_000;
    while (records.length < poison.length + 2 && Date.now() < until) {
      const batch = await consumer.fetch({ max_messages: 20, expires: 1_000 });
      for await (const m of batch) records.push(m.json<DeadLetter>());
    }
    expect(records).toHaveLength(poison.length + 2);
    const reasons = records.map((r) => `${r.actor}: ${r.reason}`);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^scanner: class.recorded is not valid JSON/),
        expect.stringMatching(/^scanner: class.recorded is invalid: classId: .*string/i),
        expect.stringMatching(/^scanner: class.recorded is invalid: .*extra/),
        expect.stringMatching(/^scanner: class.recorded is invalid: classId: classId may not contain/),
        expect.stringMatching(/^scanner: class.recorded payload is neither JSON/),
        expect.stringMatching(/^scanner: class.recorded payload is 307200 bytes, over the 262144-byte limit/),
        expect.stringMatching(/^dispatcher: transfer job is invalid/),
        expect.stringMatching(/^aggregator: wave results is not valid JSON/),
      ]),
    );
    expect(records.every((r) => r.preview.length <= 1024)).toBe(true);
  });

  it('pipeline - a file whose URI is too long to carry is refused by name, and its class is reported', async () => {
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'longuri', manifest: 'longuri/master.m3u8' }));
    const e = await waitFor('longuri', 30_000);
    expect(e.files).toBe(2); // the playlist and s0.ts
    expect(e.refused).toBe(1);
    const report = (await getObject(s3For(dst), 'dest-bucket', e.reportKey)).toString();
    expect(JSON.parse(report).refused).toEqual([
      { uri: 's1.ts?…', reason: expect.stringMatching(/segment in longuri\/master.m3u8: URI is 27\d{4} characters long, over the 16384-character limit/) },
    ]);
    expect(report).not.toContain('aaaa');
  });

  it('pipeline - refusals in a playlist with a very long path are reported, each reason cut short', async () => {
    // 20 sampled refusals each quoting a 14,000-character path made `class crawled` larger than a message may be:
    // it was dead-lettered and the class never reported (a review).
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'longpath', manifest: 'longpath/master.m3u8' }));
    const e = await waitFor('longpath', 30_000);
    expect(e.refused).toBe(25);
    const report = JSON.parse((await getObject(s3For(dst), 'dest-bucket', e.reportKey)).toString()) as { refused: Array<{ uri: string; reason: string }> };
    expect(report.refused).toHaveLength(25);
    for (const r of report.refused) {
      expect(r.reason).toMatch(/^segment in longpath\/d+…/);
      expect(r.reason.length).toBeLessThanOrEqual(600);
    }
  });

  it('pipeline - cycles through playlists with very long paths are reported, each entry cut short', async () => {
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'cycles', manifest: 'cycles/master.m3u8' }));
    const e = await waitFor('cycles', 30_000);
    // The files under those folders cannot be S3 keys (over 1,024 bytes): each fails at once, saying so.
    expect(e).toMatchObject({ status: 'failed', files: 1 + 8 * 3, skipped: 8, retries: 0 });
    expect(e.failed).toHaveLength(8 * 3);
    for (const f of e.failed) expect(f.reasons).toEqual([expect.stringMatching(/^attempt 1: destination key is 140\d\d bytes, over S3's 1024-byte limit/)]);
    const report = JSON.parse((await getObject(s3For(dst), 'dest-bucket', e.reportKey)).toString()) as { skipped: Array<{ uri: string; reason: string }> };
    expect(report.skipped).toHaveLength(8);
    for (const r of report.skipped) {
      expect(r.reason).toMatch(/^playlist cycle: cycles\/\dc+…/);
      expect(r.reason.length).toBeLessThanOrEqual(600);
      expect(r.uri.length).toBeLessThanOrEqual(250);
    }
  });

  it('pipeline - 200 refusals of many bytes each are reported whole, in messages NATS takes', async () => {
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'cjk', manifest: 'cjk/master.m3u8' }));
    const e = await waitFor('cjk', 30_000);
    expect(e).toMatchObject({ files: 3, refused: 200 });
    const report = JSON.parse((await getObject(s3For(dst), 'dest-bucket', e.reportKey)).toString()) as { refused: Array<{ uri: string; reason: string }> };
    expect(report.refused).toHaveLength(200);
    expect(new Set(report.refused.map((r) => r.uri)).size).toBe(200);
    expect(report.refused.every((r) => r.uri.startsWith('http://elsewhere.example/') && r.reason.startsWith('segment in cjk/講'))).toBe(true);
  });

  it('pipeline - a poison crawl job that names its run fails that run, and its class is reported', async () => {
    // A crawl job this flants cannot read (another version's, say) was dead-lettered and its class never reported.
    const startedAt = new Date().toISOString();
    await js.publish(t.subjects.crawl, JSON.stringify({ classId: 'unreadable', runId: '99-x', startedAt, manifest: 42 }));
    const e = await waitFor('unreadable', 30_000);
    expect(e.status).toBe('failed');
    expect(e.runId).toBe('99-x');
    expect(e.reason).toMatch(/crawl job is invalid: manifest/);
  });

  it('pipeline - a poison transfer job that names its file fails that file, and its class is reported', async () => {
    // The class's own jobs are held back: the dispatcher is stopped while the crawl enqueues them.
    const dispatcher = daemon.dispatcher;
    if (!dispatcher) throw new Error('no dispatcher');
    await dispatcher.stop();
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'named', manifest: 'named/master.m3u8' }));
    const jsm = await js.jetstreamManager();
    const jobs: Array<{ seq: number; job: Record<string, unknown> }> = [];
    for (const until = Date.now() + 20_000; jobs.length < 3 && Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      jobs.length = 0;
      const info = await jsm.streams.info(t.streams.work, { subjects_filter: t.subjects.transfer });
      for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(t.streams.work, { seq }).catch(() => undefined);
        if (m?.subject === t.subjects.transfer) jobs.push({ seq, job: m.json<Record<string, unknown>>() });
      }
    }
    const s1 = jobs.find((j) => j.job.key === 'named/s1.ts');
    expect(s1).toBeDefined();
    // s1.ts's job replaced by one no dispatcher can parse, that still says which file it was.
    await jsm.streams.deleteMessage(t.streams.work, (s1 as { seq: number }).seq);
    await js.publish(t.subjects.transfer, JSON.stringify({ ...(s1 as { job: object }).job, optional: 'not a boolean' }));
    dispatcherAgain = await startDaemon({ config, actors: ['dispatcher'], logger: testLogger() });
    const e = await waitFor('named', 30_000);
    expect(e.status).toBe('failed');
    expect(e.files).toBe(3);
    expect(e.failed).toEqual([{ key: 'named/s1.ts', reasons: [expect.stringMatching(/transfer job is invalid: optional/)] }]);
  });
  it('pipeline - a repair trigger whose crawl job would not fit a message is reported failed, naming the limit', async () => {
    // From a review: a trigger just under its 256 KiB limit became a crawl job over it, dead-lettered with no report.
    const files = [...Array.from({ length: 257 }, (_, i) => `repair/${String(i).padStart(4, '0')}${'x'.repeat(1_000)}.ts`), `repair/${'y'.repeat(620)}.ts`];
    const trigger = JSON.stringify({ classId: 'repair', manifest: 'repair/master.m3u8', files });
    // Within 100 bytes of the limit: the run's fields alone take the crawl job over it.
    expect(trigger.length).toBeGreaterThan(MAX_PAYLOAD_BYTES - 100);
    expect(trigger.length).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES);
    await js.publish(t.subjects.recorded, trigger);
    const e = await waitFor('repair', 30_000);
    expect(e.status).toBe('failed');
    expect(e.reason).toMatch(/crawl job would be \d+ bytes, over the 261120-byte limit/);
  });
});
