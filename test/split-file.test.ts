/**
 * Large single files are split into ranged part jobs that run across
 * invocations and are assembled by one multipart upload. Real parts: a
 * nats-server, two buckets on the run's Ceph RADOS Gateway (real S3: `-N`
 * multipart ETags, NoSuchUpload), the local Lambda and every actor.
 */
import { createHash, randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import { invokeWave, makeLambdaClient } from '../lambda/invoke-wave.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import { planParts } from '../lambda/split-file.js';
import { unquoteEtag } from '../storage/etag.js';
import { recordPart } from '../actors/split-parts.js';
import { openPartsKv } from '../streams/ensure-topology.js';
import type { WaveRequest } from '../lambda/wave.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { getObject, natsClient, startLambda, startNats, startRgwBucket, testConfig, testLogger, type RgwBucket, useRgwCredentials } from './helpers/services.js';

useRgwCredentials();

const MiB = 1024 * 1024;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
/** The ETag S3 gives `b` uploaded in parts of `partSize`: MD5 of the parts' MD5s, `-` and the count. */
function multipartEtagOf(b: Buffer, partSize: number): string {
  const sums: Buffer[] = [];
  for (let at = 0; at < b.length; at += partSize) sums.push(createHash('md5').update(b.subarray(at, at + partSize)).digest());
  return `${createHash('md5').update(Buffer.concat(sums)).digest('hex')}-${sums.length}`;
}

describe('split - large files as ranged part jobs', () => {
  let nats: NatsServer;
  let src: RgwBucket;
  let dst: RgwBucket;
  let lambda: LocalLambda;
  let daemon: Daemon;
  // A single-file byte-range rendition: one 23 MiB file, plus a small one that is not split.
  const big = randomBytes(23 * MiB + 4_321);
  const small = randomBytes(300_000);
  let event: ClassTransferred | undefined;

  beforeAll(async () => {
    [nats, src, dst, lambda] = await Promise.all([startNats(), startRgwBucket('src'), startRgwBucket('dst'), startLambda()]);
    const s = src.s3;
    const playlist = [
      '#EXTM3U', '#EXT-X-VERSION:4', '#EXT-X-TARGETDURATION:10', '#EXT-X-PLAYLIST-TYPE:VOD',
      '#EXTINF:10,', `#EXT-X-BYTERANGE:${12 * MiB}@0`, 'movie.mp4',
      '#EXTINF:10,', `#EXT-X-BYTERANGE:${big.length - 12 * MiB}@${12 * MiB}`, 'movie.mp4',
      '#EXTINF:10,', 'tail.ts', '#EXT-X-ENDLIST', '',
    ].join('\n');
    await s.send(new PutObjectCommand({ Bucket: src.name, Key: 'lib/film/index.m3u8', Body: playlist }));
    await s.send(new PutObjectCommand({ Bucket: src.name, Key: 'lib/film/movie.mp4', Body: big }));
    await s.send(new PutObjectCommand({ Bucket: src.name, Key: 'lib/film/tail.ts', Body: small }));
    const cfg = testConfig({
      NATS_URL: nats.url,
      FLANTS_SOURCE: `s3://${src.name}/lib/`,
      FLANTS_SOURCE_ENDPOINT: src.endpoint,
      FLANTS_DEST: `s3://${dst.name}/out/`,
      FLANTS_DEST_ENDPOINT: dst.endpoint,
      // One gateway holds both buckets: stream, so that the file is split (server-side copy is tested on its own).
      FLANTS_SERVER_SIDE_COPY: 'false',
      FLANTS_LAMBDA: 'local',
      FLANTS_LAMBDA_ENDPOINT: lambda.url,
      FLANTS_MANIFEST_TEMPLATE: '{classId}/index.m3u8',
      FLANTS_SPLIT_THRESHOLD: '10MiB',
      FLANTS_SPLIT_PART_SIZE: '5MiB',
      FLANTS_BATCH_WAIT: '50ms',
    });
    daemon = await startDaemon({ config: cfg, logger: testLogger() });
    await using client = await natsClient(nats.url);
    const t = topology(cfg.namespace);
    const sub = client.subscribe(t.subjects.transferred);
    await jetstream(client).publish(t.subjects.recorded, 'film');
    for await (const m of sub) {
      event = m.json<ClassTransferred>();
      break;
    }
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    await Promise.all([lambda?.close(), nats?.close()]);
  });

  it('split - plans parts of the part size, larger when 2,000 would not hold the file', () => {
    expect(planParts(23 * MiB + 1, 5 * MiB).map((p) => p.end - p.start)).toEqual([5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 3 * MiB + 1]);
    const huge = planParts(5 * 10_000 * MiB + 7, 5 * MiB);
    expect(huge.length).toBeLessThanOrEqual(2_000);
    expect(huge.at(-1)?.end).toBe(5 * 10_000 * MiB + 7);
  });

  it('split - the file is copied as 5 part jobs, assembled byte-identical with its -N ETag, and counted once', async () => {
    expect(event, JSON.stringify(event)).toMatchObject({ status: 'complete' });
    expect(event?.files).toBe(3); // playlist, movie.mp4 (two byte ranges, one file), tail.ts
    const copied = await getObject(dst.s3, dst.name, 'out/film/movie.mp4');
    expect(copied.length).toBe(big.length);
    expect(md5(copied)).toBe(md5(big));
    expect((await getObject(dst.s3, dst.name, 'out/film/tail.ts')).equals(small)).toBe(true);
    expect(daemon.dispatcher?.dispatch.splitFiles).toBe(1);
    // Every file counts its whole size once: the assembling part reports the file, the others nothing.
    expect(event?.bytes).toBe(big.length + small.length + (await getObject(src.s3, src.name, 'lib/film/index.m3u8')).length);
    const head = await dst.s3.send(new HeadObjectCommand({ Bucket: dst.name, Key: 'out/film/movie.mp4' }));
    expect(head.Metadata?.['flants-source-version']).toBeTruthy();
    expect(unquoteEtag(head.ETag)).toBe(multipartEtagOf(big, 5 * MiB));
  });

  const wave = (jobs: WaveRequest['jobs'], prefix = 'out/'): WaveRequest => ({
    source: { location: { kind: 's3', bucket: src.name, prefix: 'lib/' }, endpoint: src.endpoint, region: 'us-east-1', forcePathStyle: true },
    dest: { location: { kind: 's3', bucket: dst.name, prefix }, endpoint: dst.endpoint, region: 'us-east-1', forcePathStyle: true },
    jobs,
    options: { multipartThreshold: 64 * MiB, partSize: 16 * MiB, fileConcurrency: 4, stallTimeoutMs: 10_000, serverSideCopy: false, splitThreshold: 10 * MiB, splitPartSize: 5 * MiB },
  });
  const partWave = (part: NonNullable<WaveRequest['jobs'][number]['part']>): WaveRequest => wave([{ src: 'film/movie.mp4', key: 'film/movie.mp4', part }]);
  const client = () => makeLambdaClient({ functionName: 'local', endpoint: lambda.url, region: 'us-east-1', local: true });

  it('split - a part or assembly redelivered after the file was assembled reports the finished file', async () => {
    const split = (await invokeWave(client(), 'local', wave([{ src: 'film/movie.mp4', key: 'film/movie.mp4' }], 'again/'))).results[0];
    const plan = split?.split;
    expect(plan?.parts, JSON.stringify(split)).toHaveLength(5);
    if (!plan) return;
    const parts = plan.parts.map((p) => ({ uploadId: plan.uploadId, n: p.n, count: plan.parts.length, start: p.start, end: p.end, size: plan.size, version: plan.version }));
    const jobs = parts.map((part) => ({ src: 'film/movie.mp4', key: 'film/movie.mp4', part }));
    const uploaded = (await invokeWave(client(), 'local', wave(jobs, 'again/'))).results;
    expect(uploaded.every((r) => r.ok && r.part), JSON.stringify(uploaded)).toBe(true);
    const assemble = { uploadId: plan.uploadId, size: plan.size, version: plan.version, parts: uploaded.map((r) => r.part as { n: number; etag: string }) };
    const job = { src: 'film/movie.mp4', key: 'film/movie.mp4', assemble };
    const first = (await invokeWave(client(), 'local', wave([job], 'again/'))).results[0];
    expect(first, JSON.stringify(first)).toMatchObject({ ok: true, bytes: big.length, etag: multipartEtagOf(big, 5 * MiB) });
    // Completing it again (RGW answers 200) and uploading a part again (NoSuchUpload) both end at the finished file.
    const again = (await invokeWave(client(), 'local', wave([job], 'again/'))).results[0];
    expect(again, JSON.stringify(again)).toMatchObject({ ok: true, bytes: big.length, etag: multipartEtagOf(big, 5 * MiB) });
    const part = (await invokeWave(client(), 'local', wave([jobs[1] as (typeof jobs)[number]], 'again/'))).results[0];
    expect(part, JSON.stringify(part)).toMatchObject({ ok: true, bytes: big.length });
    expect(md5(await getObject(dst.s3, dst.name, 'again/film/movie.mp4'))).toBe(md5(big));
  });

  it('split - an assembly whose parts do not make the object S3 holds fails for good, never counted', async () => {
    const plan = (await invokeWave(client(), 'local', wave([{ src: 'film/movie.mp4', key: 'film/movie.mp4' }], 'odd/'))).results[0]?.split;
    if (!plan) throw new Error('no split plan');
    const jobs = plan.parts.map((p) => ({ src: 'film/movie.mp4', key: 'film/movie.mp4', part: { uploadId: plan.uploadId, n: p.n, count: plan.parts.length, start: p.start, end: p.end, size: plan.size, version: plan.version } }));
    const uploaded = (await invokeWave(client(), 'local', wave(jobs, 'odd/'))).results;
    // A recorded part ETag that is not the part S3 holds: S3 itself refuses to complete with it.
    const parts = uploaded.map((r, i) => ({ n: i + 1, etag: i === 2 ? `"${md5(Buffer.from('not this part'))}"` : (r.part?.etag as string) }));
    const res = (await invokeWave(client(), 'local', wave([{ src: 'film/movie.mp4', key: 'film/movie.mp4', assemble: { uploadId: plan.uploadId, size: plan.size, version: plan.version, parts } }], 'odd/'))).results[0];
    expect(res?.ok, JSON.stringify(res)).toBe(false);
    expect(res?.bytes).toBe(0);
  });

  it('split - the part record yields the assembly once every part is in, under concurrent dispatchers', async () => {
    await using nc = await natsClient(nats.url);
    const kv = await openPartsKv(nc, topology('split-record'));
    const part = (n: number) => ({ uploadId: 'up-1', n, count: 3, start: 0, end: 1, size: 3, version: 'v1' });
    const first = await Promise.all([1, 2].map((n) => recordPart(kv, 'run-1', 7, part(n), `"e${n}"`)));
    expect(first).toEqual([undefined, undefined]);
    const [a, b] = await Promise.all([recordPart(kv, 'run-1', 7, part(3), '"e3"'), recordPart(kv, 'run-1', 7, part(1), '"e1"')]);
    const done = a ?? b;
    expect(done?.parts.map((p) => `${p.n}=${p.etag}`).sort()).toEqual(['1="e1"', '2="e2"', '3="e3"']);
    expect(done).toMatchObject({ uploadId: 'up-1', size: 3, version: 'v1' });
    // A redelivered part result after that point yields the assembly again (its message id dedupes the publish).
    expect((await recordPart(kv, 'run-1', 7, part(2), '"e2"'))?.parts).toHaveLength(3);
  });

  it('split - a part whose source changed since the split fails for good, naming why', async () => {
    const res = await invokeWave(client(), 'local', partWave({ uploadId: 'any', n: 1, count: 5, start: 0, end: 5 * MiB, size: big.length, version: '0123456789abcdef0123456789abcdef' }));
    expect(res.results[0]?.ok).toBe(false);
    expect(res.results[0]?.retryable).toBe(false);
    expect(res.results[0]?.error).toMatch(/source changed since the file was split/);
  });
});
