/**
 * Large single files are split into ranged part jobs that run across
 * invocations and are assembled by one multipart upload. Real parts: a
 * nats-server, two s3rver endpoints, the local Lambda and every actor.
 */
import { createHash, randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import { invokeWave, makeLambdaClient } from '../lambda/invoke-wave.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import { planParts } from '../lambda/split-file.js';
import { recordPart } from '../actors/split-parts.js';
import { openPartsKv } from '../streams/ensure-topology.js';
import type { WaveRequest } from '../lambda/wave.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { S3Server } from '../dev/local/s3-server.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { getObject, natsClient, s3For, startLambda, startNats, startS3, testConfig, testLogger } from './helpers/services.js';

const MiB = 1024 * 1024;
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('split - large files as ranged part jobs', () => {
  let nats: NatsServer;
  let src: S3Server;
  let dst: S3Server;
  let lambda: LocalLambda;
  let daemon: Daemon;
  // A single-file byte-range rendition: one 23 MiB file, plus a small one that is not split.
  const big = randomBytes(23 * MiB + 4_321);
  const small = randomBytes(300_000);
  let event: ClassTransferred | undefined;

  beforeAll(async () => {
    [nats, src, dst, lambda] = await Promise.all([startNats(), startS3('src'), startS3('dst'), startLambda()]);
    const s = s3For(src);
    const playlist = [
      '#EXTM3U', '#EXT-X-VERSION:4', '#EXT-X-TARGETDURATION:10', '#EXT-X-PLAYLIST-TYPE:VOD',
      '#EXTINF:10,', `#EXT-X-BYTERANGE:${12 * MiB}@0`, 'movie.mp4',
      '#EXTINF:10,', `#EXT-X-BYTERANGE:${big.length - 12 * MiB}@${12 * MiB}`, 'movie.mp4',
      '#EXTINF:10,', 'tail.ts', '#EXT-X-ENDLIST', '',
    ].join('\n');
    await s.send(new PutObjectCommand({ Bucket: 'src', Key: 'lib/film/index.m3u8', Body: playlist }));
    await s.send(new PutObjectCommand({ Bucket: 'src', Key: 'lib/film/movie.mp4', Body: big }));
    await s.send(new PutObjectCommand({ Bucket: 'src', Key: 'lib/film/tail.ts', Body: small }));
    const cfg = testConfig({
      NATS_URL: nats.url,
      FLANTS_SOURCE: 's3://src/lib/',
      FLANTS_SOURCE_ENDPOINT: src.endpoint,
      FLANTS_SOURCE_ACCESS_KEY_ID: 'S3RVER',
      FLANTS_SOURCE_SECRET_ACCESS_KEY: 'S3RVER',
      FLANTS_DEST: 's3://dst/out/',
      FLANTS_DEST_ENDPOINT: dst.endpoint,
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
    await Promise.all([lambda?.close(), src?.close(), dst?.close(), nats?.close()]);
  });

  it('split - plans parts of the part size, larger when 2,000 would not hold the file', () => {
    expect(planParts(23 * MiB + 1, 5 * MiB).map((p) => p.end - p.start)).toEqual([5 * MiB, 5 * MiB, 5 * MiB, 5 * MiB, 3 * MiB + 1]);
    const huge = planParts(5 * 10_000 * MiB + 7, 5 * MiB);
    expect(huge.length).toBeLessThanOrEqual(2_000);
    expect(huge.at(-1)?.end).toBe(5 * 10_000 * MiB + 7);
  });

  it('split - the file is copied as 5 part jobs, assembled byte-identical, and counted once', async () => {
    expect(event, JSON.stringify(event)).toMatchObject({ status: 'complete' });
    expect(event?.files).toBe(3); // playlist, movie.mp4 (two byte ranges, one file), tail.ts
    const copied = await getObject(s3For(dst), 'dst', 'out/film/movie.mp4');
    expect(copied.length).toBe(big.length);
    expect(md5(copied)).toBe(md5(big));
    expect((await getObject(s3For(dst), 'dst', 'out/film/tail.ts')).equals(small)).toBe(true);
    expect(daemon.dispatcher?.dispatch.splitFiles).toBe(1);
    // Every file counts its whole size once: the assembling part reports the file, the others nothing.
    expect(event?.bytes).toBe(big.length + small.length + (await getObject(s3For(src), 'src', 'lib/film/index.m3u8')).length);
    const head = await s3For(dst).send(new HeadObjectCommand({ Bucket: 'dst', Key: 'out/film/movie.mp4' }));
    expect(head.Metadata?.['flants-source-version']).toBeTruthy();
  });

  const partWave = (part: NonNullable<WaveRequest['jobs'][number]['part']>): WaveRequest => ({
    source: { location: { kind: 's3', bucket: 'src', prefix: 'lib/' }, endpoint: src.endpoint, region: 'us-east-1', forcePathStyle: true },
    dest: { location: { kind: 's3', bucket: 'dst', prefix: 'out/' }, endpoint: dst.endpoint, region: 'us-east-1', forcePathStyle: true },
    jobs: [{ src: 'film/movie.mp4', key: 'film/movie.mp4', part }],
    options: { multipartThreshold: 64 * MiB, partSize: 16 * MiB, fileConcurrency: 1, stallTimeoutMs: 10_000 },
  });
  const client = () => makeLambdaClient({ functionName: 'local', endpoint: lambda.url, region: 'us-east-1', local: true });

  // Not shown here: a part or assembly redelivered after its file was assembled
  // gets NoSuchUpload from S3 and then reports the finished file. s3rver
  // accepts UploadPart for any upload id and answers 500 to completing an
  // unknown one, so that path cannot run against it.

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
