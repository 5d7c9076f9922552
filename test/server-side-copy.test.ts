/**
 * Server-side copy: with source and destination in the same S3 service and no
 * separate source credentials, S3 copies the bytes itself; otherwise the
 * handler streams. Both end identical and record the source version. Runs on
 * the run's Ceph RADOS Gateway, which decodes `x-amz-copy-source` as S3 does.
 */
import { randomBytes } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeWave, makeLambdaClient } from '../lambda/invoke-wave.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { WaveRequest } from '../lambda/wave.js';
import { getObject, rgw, startLambda, startRgwBucket, type RgwBucket, useRgwCredentials } from './helpers/services.js';

useRgwCredentials();

describe('lambda - server-side copy inside one S3 service', () => {
  let srcBucket: RgwBucket;
  let dstBucket: RgwBucket;
  let lambda: LocalLambda;
  const bodies = new Map<string, Buffer>();

  beforeAll(async () => {
    [srcBucket, dstBucket, lambda] = await Promise.all([startRgwBucket('src'), startRgwBucket('dst'), startLambda()]);
    // Names that S3's path encoding, SigV4 and x-amz-copy-source treat specially.
    for (const name of ['a.ts', 'b c.ts', 'init.mp4', "ü+!(1)*'~=&.ts", 'a+b&c=d e%20f.ts']) {
      const body = randomBytes(10_000 + bodies.size * 777);
      bodies.set(name, body);
      await srcBucket.s3.send(new PutObjectCommand({ Bucket: srcBucket.name, Key: `lib/x/${name}`, Body: body }));
    }
  });
  afterAll(async () => {
    await lambda?.close();
  });

  const names = () => [...bodies.keys()];
  // Every size goes server-side here: these cases are about keys, not about when the copy pays.
  const wave = (prefix: string, serverSideCopy: boolean, directIo = true, serverSideMinBytes = 0): WaveRequest => ({
    source: { location: { kind: 's3', bucket: srcBucket.name, prefix: 'lib/' }, endpoint: rgw().endpoint, region: 'us-east-1', forcePathStyle: true },
    dest: { location: { kind: 's3', bucket: dstBucket.name, prefix }, endpoint: rgw().endpoint, region: 'us-east-1', forcePathStyle: true },
    jobs: names().map((n) => ({ src: `x/${encodeURIComponent(n)}`, key: `x/${n}` })),
    options: { multipartThreshold: 64 << 20, partSize: 16 << 20, fileConcurrency: 4, stallTimeoutMs: 10_000, skipIdentical: true, serverSideCopy, directIo, serverSideMinBytes },
  });
  const client = () => makeLambdaClient({ functionName: 'local', endpoint: lambda.url, region: 'us-east-1', local: true });

  it('lambda - copies inside S3 when both sides are the same service, identical and versioned', async () => {
    const res = await invokeWave(client(), 'local', wave('ssc/', true));
    expect(res.results.map((r) => [r.ok, r.method, r.bytes]), JSON.stringify(res.results)).toEqual(names().map((n) => [true, 'server-side', bodies.get(n)?.length]));
    for (const name of names()) {
      const body = bodies.get(name) as Buffer;
      expect((await getObject(dstBucket.s3, dstBucket.name, `ssc/x/${name}`)).equals(body)).toBe(true);
      const head = await dstBucket.s3.send(new HeadObjectCommand({ Bucket: dstBucket.name, Key: `ssc/x/${name}` }));
      expect(head.Metadata?.['flants-source-version']).toMatch(/^[0-9a-f]{32}$/);
    }
    const again = await invokeWave(client(), 'local', wave('ssc/', true));
    expect(again.results.every((r) => r.ok && r.unchanged)).toBe(true);
  });

  it('lambda - streams when server-side copy is off', async () => {
    const res = await invokeWave(client(), 'local', wave('streamed/', false));
    expect(res.results.map((r) => r.method)).toEqual(names().map(() => 'stream'));
    for (const [name, body] of bodies) expect((await getObject(dstBucket.s3, dstBucket.name, `streamed/x/${name}`)).equals(body)).toBe(true);
    // A second run finds every file identical through the direct HEAD, metadata included.
    const again = await invokeWave(client(), 'local', wave('streamed/', false));
    expect(again.results.map((r) => r.unchanged)).toEqual(names().map(() => true));
  });

  it('lambda - the SDK-command path (FLANTS_S3_DIRECT_IO=false) copies the same bytes and metadata', async () => {
    const res = await invokeWave(client(), 'local', wave('sdk/', false, false));
    expect(res.results.every((r) => r.ok && r.method === 'stream')).toBe(true);
    for (const [name, body] of bodies) {
      expect((await getObject(dstBucket.s3, dstBucket.name, `sdk/x/${name}`)).equals(body)).toBe(true);
      const head = await dstBucket.s3.send(new HeadObjectCommand({ Bucket: dstBucket.name, Key: `sdk/x/${name}` }));
      expect(head.Metadata?.['flants-source-version']).toMatch(/^[0-9a-f]{32}$/);
    }
  });

  it('lambda - by default only files of 8 MiB or more are copied inside S3; smaller ones stream', async () => {
    const large = randomBytes(8 * 1024 * 1024);
    await srcBucket.s3.send(new PutObjectCommand({ Bucket: srcBucket.name, Key: 'lib/y/large.mp4', Body: large }));
    await srcBucket.s3.send(new PutObjectCommand({ Bucket: srcBucket.name, Key: 'lib/y/small.ts', Body: large.subarray(0, 8 * 1024 * 1024 - 1) }));
    const req = wave('sized/', true);
    const res = await invokeWave(client(), 'local', {
      ...req,
      jobs: ['large.mp4', 'small.ts'].map((n) => ({ src: `y/${n}`, key: `y/${n}` })),
      options: { ...req.options, serverSideMinBytes: undefined },
    });
    expect(res.results.map((r) => [r.ok, r.method]), JSON.stringify(res.results)).toEqual([[true, 'server-side'], [true, 'stream']]);
    expect((await getObject(dstBucket.s3, dstBucket.name, 'sized/y/large.mp4')).equals(large)).toBe(true);
    expect((await getObject(dstBucket.s3, dstBucket.name, 'sized/y/small.ts')).length).toBe(large.length - 1);
  });
});
