/**
 * The whole path one class takes, on real parts: a private nats-server, two
 * buckets on the run's Ceph RADOS Gateway (real S3), the local Lambda endpoint
 * (worker threads, real @aws-sdk/client-lambda), and every actor.
 */
import { createHash } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import { writeSyntheticLibrary, type Library } from '../dev/local/synthetic-library.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import {
  getObject, listKeys, natsClient, startLambda, startNats, startRgwBucket, testConfig, testLogger, type RgwBucket, useRgwCredentials,
} from './helpers/services.js';

useRgwCredentials();

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('pipeline - end to end', () => {
  let nats: NatsServer;
  let src: RgwBucket;
  let dst: RgwBucket;
  let lambda: LocalLambda;
  let daemon: Daemon;
  let library: Library;
  const events: ClassTransferred[] = [];
  let elapsedMs = 0;
  let transferredInStream = 0;
  const config = () => testConfig({
    NATS_URL: nats.url,
    FLANTS_SOURCE: `s3://${src.name}/library/`,
    FLANTS_SOURCE_ENDPOINT: src.endpoint,
    FLANTS_DEST: `s3://${dst.name}/mirror`,
    FLANTS_DEST_ENDPOINT: dst.endpoint,
    FLANTS_LAMBDA: 'local',
    FLANTS_LAMBDA_ENDPOINT: lambda.url,
    FLANTS_MULTIPART_THRESHOLD: '5MiB',
    FLANTS_PART_SIZE: '5MiB',
    FLANTS_BATCH_WAIT: '100ms',
  });

  beforeAll(async () => {
    [nats, src, dst, lambda] = await Promise.all([startNats(), startRgwBucket('source'), startRgwBucket('dest'), startLambda()]);
    library = await writeSyntheticLibrary(src.s3, src.name, 'library/', {
      classes: 5,
      renditions: 3,
      segments: 40,
      minBytes: 1024,
      maxBytes: 2 * 1024 * 1024,
      largeFile: { classIndex: 2, bytes: 7 * 1024 * 1024 + 123 },
      strayFiles: true,
    });
    const cfg = config();
    daemon = await startDaemon({ config: cfg, logger: testLogger() });
    await using client = await natsClient(nats.url);
    const t = topology(cfg.namespace);
    const sub = client.subscribe(t.subjects.transferred);
    const js = jetstream(client);
    const started = Date.now();
    // Both trigger forms: JSON with an explicit manifest, and a bare class id.
    for (const [n, id] of library.classIds.entries()) {
      const payload = n % 2 === 0 ? JSON.stringify({ classId: id, manifest: `${id}/master.m3u8` }) : id;
      await js.publish(t.subjects.recorded, payload);
    }
    for await (const m of sub) {
      events.push(m.json<ClassTransferred>());
      if (events.length === library.classIds.length) break;
    }
    elapsedMs = Date.now() - started;
    // Give any duplicate outcome a moment to show up before we count them.
    await new Promise((r) => setTimeout(r, 1_000));
    const jsm = await jetstreamManager(client);
    const info = await jsm.streams.info(t.streams.classes, { subjects_filter: t.subjects.transferred });
    transferredInStream = info.state.subjects?.[t.subjects.transferred] ?? 0;
  }, 300_000);

  afterAll(async () => {
    await daemon?.stop();
    await Promise.all([lambda?.close(), nats?.close()]);
  });

  it('pipeline - every referenced file arrives byte-identical', async () => {
    const s = src.s3;
    const d = dst.s3;
    const referenced = library.files.filter((f) => f.referenced);
    const bytes = referenced.reduce((n, f) => n + f.bytes, 0);
    console.log(`e2e: ${referenced.length} files, ${(bytes / 1e6).toFixed(1)} MB in ${(elapsedMs / 1000).toFixed(2)} s = ` +
      `${(referenced.length / (elapsedMs / 1000)).toFixed(0)} files/s, ${(bytes / 1e6 / (elapsedMs / 1000)).toFixed(1)} MB/s`);
    // 16 comparisons at a time: one by one, 620 pairs of GETs take 20 s on the gateway.
    for (let at = 0; at < referenced.length; at += 16) {
      await Promise.all(referenced.slice(at, at + 16).map(async (f) => {
        const destKey = f.key.replace(/^library\//, 'mirror/');
        const [a, b] = await Promise.all([getObject(s, src.name, f.key), getObject(d, dst.name, destKey)]);
        expect(b.length, destKey).toBe(a.length);
        expect(md5(b), destKey).toBe(md5(a));
      }));
    }
  });

  it('pipeline - the file above the multipart threshold went up in 5 MiB parts, with its -N ETag', async () => {
    const large = library.files.find((f) => f.bytes === 7 * 1024 * 1024 + 123);
    expect(large).toBeDefined();
    const body = await getObject(src.s3, src.name, large?.key as string);
    const sums = [body.subarray(0, 5 << 20), body.subarray(5 << 20)].map((p) => createHash('md5').update(p).digest());
    const head = await dst.s3.send(new HeadObjectCommand({ Bucket: dst.name, Key: (large?.key as string).replace(/^library\//, 'mirror/') }));
    expect(head.ETag).toBe(`"${createHash('md5').update(Buffer.concat(sums)).digest('hex')}-2"`);
  });

  it('pipeline - copies only referenced files, plus reports', async () => {
    const keys = await listKeys(dst.s3, dst.name);
    const expected = library.files.filter((f) => f.referenced).map((f) => f.key.replace(/^library\//, 'mirror/'));
    const copied = keys.filter((k) => !k.startsWith('mirror/_flants/'));
    expect(copied.sort()).toEqual(expected.sort());
    expect(keys.some((k) => k.includes('stray-notes'))).toBe(false);
  });

  it('pipeline - exactly one class.transferred per class, complete, with exact counts', async () => {
    expect(transferredInStream).toBe(library.classIds.length);
    const ids = events.map((e) => e.classId).sort();
    expect(ids).toEqual([...library.classIds].sort());
    for (const e of events) {
      const files = library.files.filter((f) => f.referenced && f.key.startsWith(`library/${e.classId}/`));
      expect(e.status).toBe('complete');
      expect(e.files).toBe(files.length);
      expect(e.bytes).toBe(files.reduce((n, f) => n + f.bytes, 0));
      expect(e.failed).toEqual([]);
    }
  });

  it('pipeline - writes a JSON report per class under the reserved prefix', async () => {
    const d = dst.s3;
    for (const e of events) {
      expect(e.reportKey.startsWith('mirror/_flants/reports/')).toBe(true);
      const report = JSON.parse((await getObject(d, dst.name, e.reportKey)).toString('utf8'));
      expect(report).toMatchObject({ classId: e.classId, status: 'complete', files: e.files, bytes: e.bytes, failedCount: 0 });
    }
  });
});
