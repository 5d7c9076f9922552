/**
 * A real S3 refuses what s3rver accepts: a request signed with the wrong
 * secret, and a body that differs from its Content-MD5. The handler must
 * report each file failed, with S3's reason, and never count it copied.
 * Real parts: the run's Ceph RADOS Gateway and the local Lambda.
 */
import { randomBytes } from 'node:crypto';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeWave, makeLambdaClient } from '../lambda/invoke-wave.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import { startLocalLambda } from '../lambda/local-endpoint.js';
import type { WaveRequest } from '../lambda/wave.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { rgw, startRgwBucket, type RgwBucket, useRgwCredentials } from './helpers/services.js';

useRgwCredentials();

describe('lambda - a real S3 refuses bad signatures and bad digests', () => {
  let src: RgwBucket;
  let dst: RgwBucket;
  let proxy: FaultProxy;
  const body = randomBytes(200_000);

  beforeAll(async () => {
    [src, dst] = await Promise.all([startRgwBucket('src'), startRgwBucket('dst')]);
    await src.s3.send(new PutObjectCommand({ Bucket: src.name, Key: 'lib/c/seg.ts', Body: body }));
    // Between the copier and the source: every GET arrives with its first byte inverted, its ETag intact.
    proxy = await startFaultProxy(rgw().endpoint, (req) => (req.method === 'GET' && req.url?.includes('/lib/c/') ? 'flip-byte' : undefined));
  });
  afterAll(async () => {
    await proxy?.close();
  });

  const wave = (sourceEndpoint: string, prefix: string): WaveRequest => ({
    source: { location: { kind: 's3', bucket: src.name, prefix: 'lib/' }, endpoint: sourceEndpoint, region: 'us-east-1', forcePathStyle: true },
    dest: { location: { kind: 's3', bucket: dst.name, prefix }, endpoint: rgw().endpoint, region: 'us-east-1', forcePathStyle: true },
    jobs: [{ src: 'c/seg.ts', key: 'c/seg.ts' }],
    options: { multipartThreshold: 64 << 20, partSize: 16 << 20, fileConcurrency: 1, stallTimeoutMs: 10_000, skipIdentical: true, serverSideCopy: false },
  });
  const absent = async (key: string) => dst.s3.send(new HeadObjectCommand({ Bucket: dst.name, Key: key })).then(() => false, () => true);

  async function withLambda<T>(env: Record<string, string | undefined>, fn: (lambda: LocalLambda) => Promise<T>): Promise<T> {
    const lambda = await startLocalLambda({ concurrency: 4, timeoutMs: 60_000, workers: 1, env: { ...process.env, ...env } });
    try {
      return await fn(lambda);
    } finally {
      await lambda.close();
    }
  }
  const invoke = (lambda: LocalLambda, req: WaveRequest) =>
    invokeWave(makeLambdaClient({ functionName: 'local', endpoint: lambda.url, region: 'us-east-1', local: true }), 'local', req);

  it('lambda - a destination signed with the wrong secret is refused, and the file reported failed', async () => {
    // The source has its own (right) keys; the destination's come from the function's chain, with a wrong secret.
    const res = await withLambda(
      {
        FLANTS_SOURCE_ACCESS_KEY_ID: rgw().accessKeyId,
        FLANTS_SOURCE_SECRET_ACCESS_KEY: rgw().secretAccessKey,
        AWS_SECRET_ACCESS_KEY: `${rgw().secretAccessKey}x`,
      },
      (lambda) => invoke(lambda, wave(rgw().endpoint, 'wrong-secret/')),
    );
    const r = res.results[0];
    expect(r, JSON.stringify(r)).toMatchObject({ ok: false, bytes: 0 });
    expect(r?.error).toMatch(/SignatureDoesNotMatch|403/);
    expect(await absent('wrong-secret/c/seg.ts')).toBe(true);
  });

  it('lambda - a body that differs from the source MD5 is refused by S3 (BadDigest), retried, never stored', async () => {
    const res = await withLambda({}, (lambda) => invoke(lambda, wave(proxy.url, 'bad-digest/')));
    const r = res.results[0];
    expect(r, JSON.stringify(r)).toMatchObject({ ok: false, bytes: 0, retryable: true });
    expect(r?.error).toMatch(/BadDigest/);
    expect(proxy.injected.length).toBeGreaterThan(0);
    expect(await absent('bad-digest/c/seg.ts')).toBe(true);
  });
});
