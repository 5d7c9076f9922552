/**
 * Allow-listed roots are read with their own scheme: with an S3 source and an
 * https:// root in FLANTS_SOURCE_ALLOW, files under the https root come from
 * the origin over HTTP, never from a bucket named after its host. Server-side
 * copy applies only to references on S3.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { S3Server } from '../dev/local/s3-server.js';
import { handleWave } from '../lambda/transfer-handler.js';
import type { WaveRequest } from '../lambda/wave.js';
import { objectIo } from '../storage/object-http.js';
import { makeSourceReader } from '../storage/source-reader.js';
import { SourceRoot } from '../storage/source-root.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { getObject, s3For, startS3 } from './helpers/services.js';

describe('source - allow-listed roots keep their own scheme', () => {
  let s3: S3Server;
  let origin: Origin;

  beforeAll(async () => {
    [s3, origin] = await Promise.all([startS3('src-bucket', 'dst-bucket'), startOrigin({ '/keys/k.bin': 'KEY-FROM-ORIGIN' })]);
    await s3For(s3).send(new PutObjectCommand({ Bucket: 'src-bucket', Key: 'lib/c1/a.ts', Body: 'SEGMENT-FROM-S3' }));
  });
  afterAll(async () => {
    await origin?.close();
    await s3?.close();
  });

  it('source - an https:// root allowed next to an S3 source is read over HTTP, the source from S3', async () => {
    const root = new SourceRoot({ kind: 's3', bucket: 'src-bucket', prefix: 'lib/' }, [`${origin.url}/keys/`]);
    const reader = makeSourceReader(root, objectIo(s3For(s3)));
    const base = new URL('s3://src-bucket/lib/c1/index.m3u8');
    const key = root.resolve(`${origin.url}/keys/k.bin`, base);
    expect(await reader.readText(key, 1_000)).toBe('KEY-FROM-ORIGIN');
    expect(await reader.stat(key)).toMatchObject({ length: 15 });
    expect(await reader.exists(root.resolve(`${origin.url}/keys/none.bin`, base))).toBe(false);
    expect(origin.requests).toEqual(['GET /keys/k.bin', 'HEAD /keys/k.bin', 'HEAD /keys/none.bin']);
    expect(await reader.readText(root.resolve('a.ts', base), 1_000)).toBe('SEGMENT-FROM-S3');
  });

  it('lambda - server-side copy applies only to references on the S3 source; an https root streams', async () => {
    const req: WaveRequest = {
      source: { location: { kind: 's3', bucket: 'src-bucket', prefix: 'lib/' }, allow: [`${origin.url}/keys/`], endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
      dest: { location: { kind: 's3', bucket: 'dst-bucket', prefix: 'out/' }, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
      jobs: [
        { src: 'c1/a.ts', key: 'c1/a.ts' },
        { src: `${origin.url}/keys/k.bin`, key: `${new URL(origin.url).host}/k.bin` },
      ],
      // Server-side copy for every size, so that only the scheme decides.
      options: { multipartThreshold: 64 << 20, partSize: 16 << 20, fileConcurrency: 2, stallTimeoutMs: 10_000, serverSideMinBytes: 0 },
    };
    const res = await handleWave(req, { getRemainingTimeInMillis: () => 60_000 });
    expect(res.results.map((r) => [r.ok, r.method, r.error])).toEqual([[true, 'server-side', undefined], [true, 'stream', undefined]]);
    expect((await getObject(s3For(s3), 'dst-bucket', 'out/c1/a.ts')).toString()).toBe('SEGMENT-FROM-S3');
    expect((await getObject(s3For(s3), 'dst-bucket', `out/${new URL(origin.url).host}/k.bin`)).toString()).toBe('KEY-FROM-ORIGIN');
  });
});

describe('source - a reference whose first folder holds a colon', () => {
  it('source - resolves again to the same file, not to a URI with a scheme', () => {
    // "lecture:01/s1.ts" alone reads as scheme "lecture:": a class folder named so was refused in the Lambda.
    for (const [root, base] of [
      [new SourceRoot({ kind: 'http', root: 'http://origin.example/vod/' }), 'http://origin.example/vod/lecture:01/master.m3u8'],
      [new SourceRoot({ kind: 's3', bucket: 'src-bucket', prefix: 'vod/' }), 's3://src-bucket/vod/lecture:01/master.m3u8'],
      [new SourceRoot({ kind: 'http', root: 'http://origin.example/vod/' }), 'http://origin.example/vod/master.m3u8'],
    ] as const) {
      const file = root.resolve(base.endsWith('vod/master.m3u8') ? './clip:1.ts' : 's1.ts', new URL(base));
      const again = root.fromRef(file.ref);
      expect(again.url.href).toBe(file.url.href);
      expect(again.path).toBe(file.path);
      expect(file.path).toMatch(/^(lecture:01\/s1\.ts|clip:1\.ts)$/);
    }
  });

  it('source - a manifest in such a folder is a path under the root; an absolute URL keeps its scheme', () => {
    const root = new SourceRoot({ kind: 'http', root: 'http://origin.example/vod/' });
    expect(root.fromRef('lecture:01/master.m3u8').url.href).toBe('http://origin.example/vod/lecture:01/master.m3u8');
    expect(root.fromRef('http://origin.example/vod/c1/master.m3u8').path).toBe('c1/master.m3u8');
    expect(() => root.fromRef('file:///etc/passwd')).toThrow(/scheme file: is not the source's http:/);
    expect(() => root.fromRef('http://elsewhere.example/vod/c1/master.m3u8')).toThrow(/host elsewhere.example is not the source host/);
  });
});
