/**
 * Scanner discovery: catalogue mapping and validation rules (unit), bucket
 * discovery against s3rver and index discovery against an HTTP origin (real
 * parts), and skipping classes already complete and unchanged.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import type { FlantsConfig } from '../config/load-config.js';
import { fromDocument, patternMatcher, type FieldMapping } from '../discovery/candidate.js';
import { catalogueFilter } from '../discovery/mongo-catalogue.js';
import { runScan, type ScanOptions } from '../discovery/run-scan.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { S3Server } from '../dev/local/s3-server.js';
import { writeSyntheticLibrary } from '../dev/local/synthetic-library.js';
import { objectIo } from '../storage/object-http.js';
import { makeSourceReader } from '../storage/source-reader.js';
import { SourceRoot } from '../storage/source-root.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { natsClient, s3For, startLambda, startNats, startS3, testConfig, testLogger } from './helpers/services.js';

const fields: FieldMapping = { classId: '_id', manifest: 'hls.master', recordedAt: 'recordedAt', updatedAt: 'updatedAt', test: 'isTest', status: 'status' };
const rules = { skipStatuses: ['aborted', 'test'], requireManifest: true };

describe('scanner - catalogue mapping and validation', () => {
  it('scanner - maps fields, including dotted paths and ObjectId-like ids', () => {
    const at = new Date('2026-11-01T10:00:00Z');
    expect(fromDocument({ _id: 'c1', hls: { master: 'c1/master.m3u8' }, recordedAt: at, status: 'broadcast' }, fields, rules)).toEqual({
      classId: 'c1', manifest: 'c1/master.m3u8', recordedAt: at, changedAt: at, origin: 'catalogue',
    });
    const oid = { toHexString: () => '65f1c0ffee0000000000abcd' };
    expect(fromDocument({ _id: oid, hls: { master: 'x/m.m3u8' } }, fields, rules)).toMatchObject({ classId: '65f1c0ffee0000000000abcd' });
  });

  it.each([
    [{ _id: 't1', hls: { master: 'a.m3u8' }, isTest: true }, /test class \(isTest is true\)/],
    [{ _id: 'a1', hls: { master: 'a.m3u8' }, status: 'aborted' }, /status is aborted/],
    [{ _id: 'n1', hls: {} }, /no manifest \(field hls.master is empty\)/],
    [{ _id: 'n2', hls: { master: '   ' } }, /no manifest/],
    [{ hls: { master: 'a.m3u8' } }, /invalid class id in field _id/],
    [{ _id: '../../etc', hls: { master: 'a.m3u8' } }, /invalid class id/],
  ])('scanner - skips %o with its reason', (doc, reason) => {
    const out = fromDocument(doc as Record<string, unknown>, fields, rules);
    expect('reason' in out && out.reason).toMatch(reason);
  });

  it('scanner - an incremental scan follows updates too: a class that becomes eligible later is picked up', () => {
    const since = new Date('2026-11-20T00:00:00Z');
    const filter = catalogueFilter({ filter: { kind: 'class' }, fields }, since);
    // Recorded before the watermark, set to broadcast after it: the query must match it.
    expect(filter).toEqual({ $and: [{ kind: 'class' }, { $or: [{ recordedAt: { $gt: since } }, { updatedAt: { $gt: since } }] }] });
    const late = fromDocument(
      { _id: 'c3', hls: { master: 'c3/m.m3u8' }, recordedAt: new Date('2026-11-01T00:00:00Z'), updatedAt: new Date('2026-11-25T00:00:00Z') },
      fields,
      rules,
    );
    // The watermark follows the change, not the recording.
    expect(late).toMatchObject({ changedAt: new Date('2026-11-25T00:00:00Z') });
    expect(catalogueFilter({ filter: { kind: 'class' }, fields })).toEqual({ kind: 'class' });
  });

  it('scanner - without requireManifest the template applies', () => {
    expect(fromDocument({ _id: 'c2' }, fields, { ...rules, requireManifest: false })).toMatchObject({ classId: 'c2', manifest: undefined });
  });

  it('scanner - discovery patterns capture the class id', () => {
    const m = patternMatcher('{classId}/master.m3u8');
    expect(m('abc/master.m3u8')).toBe('abc');
    expect(m('abc/r0/index.m3u8')).toBeUndefined();
    expect(m('abc/def/master.m3u8')).toBeUndefined();
    const deep = patternMatcher('recordings/*/{classId}/**/main.m3u8');
    expect(deep('recordings/2026/xyz/hls/v1/main.m3u8')).toBe('xyz');
    expect(deep('other/2026/xyz/main.m3u8')).toBeUndefined();
    expect(() => patternMatcher('*/master.m3u8')).toThrow(/must contain \{classId\}/);
  });
});

describe('scanner - bucket and index discovery, end to end', () => {
  let nats: NatsServer;
  let src: S3Server;
  let dst: S3Server;
  let lambda: LocalLambda;
  let origin: Origin;
  let client: Awaited<ReturnType<typeof natsClient>>;
  const daemons: Daemon[] = [];

  const scan = async (config: FlantsConfig, o: Partial<ScanOptions> = {}) => {
    const root = new SourceRoot(config.source);
    const lines: string[] = [];
    const summary = await runScan(
      { config, nc: client, root, reader: makeSourceReader(root, objectIo(s3For(src))), sourceS3: s3For(src), dest: s3For(dst), print: (l) => lines.push(l) },
      { dryRun: false, force: false, ...o },
    );
    return { summary, lines };
  };
  /** Triggers a scan queued: on the bulk subject, and none on the live one (new recordings must not wait behind a scan). */
  const recordedCount = async (config: FlantsConfig) => {
    const t = topology(config.namespace);
    const jsm = await jetstreamManager(client);
    const info = await jsm.streams.info(t.streams.classes, { subjects_filter: t.subjects.recorded }).catch(() => undefined);
    expect(info?.state.subjects?.[t.subjects.recorded] ?? 0).toBe(0);
    const bulk = await jsm.streams.info(t.streams.classes, { subjects_filter: t.subjects.recordedBulk }).catch(() => undefined);
    return bulk?.state.subjects?.[t.subjects.recordedBulk] ?? 0;
  };

  const streamNames = async () => {
    const names: string[] = [];
    for await (const n of (await jetstreamManager(client)).streams.names()) names.push(n);
    return names.sort();
  };

  beforeAll(async () => {
    [nats, src, dst, lambda] = await Promise.all([startNats(), startS3('source-bucket'), startS3('dest-bucket'), startLambda()]);
    await writeSyntheticLibrary(s3For(src), 'source-bucket', 'vod/', { classes: 3, renditions: 1, segments: 3, minBytes: 1_000, maxBytes: 2_000, strayFiles: true });
    origin = await startOrigin({
      '/cdn/index.txt': '# entry playlists\nalpha/master.m3u8\n\nbeta/master.m3u8\nbeta/r0/index.m3u8\nnot-a-class.txt\n',
    });
    client = await natsClient(nats.url);
  });

  afterAll(async () => {
    for (const d of daemons) await d.stop();
    await client?.close();
    await Promise.all([lambda?.close(), src?.close(), dst?.close(), nats?.close(), origin?.close()]);
  });

  it('scanner - lists an S3 source: dry run queues nothing, a real scan queues each class once, a rescan skips complete ones', async () => {
    const config = testConfig({
      NATS_URL: nats.url,
      FLANTS_SOURCE: 's3://source-bucket/vod/',
      FLANTS_SOURCE_ENDPOINT: src.endpoint,
      FLANTS_SOURCE_ACCESS_KEY_ID: 'S3RVER',
      FLANTS_SOURCE_SECRET_ACCESS_KEY: 'S3RVER',
      FLANTS_DEST: 's3://dest-bucket/',
      FLANTS_DEST_ENDPOINT: dst.endpoint,
      FLANTS_LAMBDA_ENDPOINT: lambda.url,
      FLANTS_BATCH_WAIT: '50ms',
    });
    const before = await streamNames();
    const dry = await scan(config, { dryRun: true });
    expect(dry.summary).toMatchObject({ origin: 'bucket', seen: 3, queued: 3, skipped: 0 });
    // A dry run leaves the server as it found it: no stream, no KV bucket made for it.
    expect(await streamNames()).toEqual(before);
    expect(dry.lines).toEqual(['would queue class-0000  class-0000/master.m3u8', 'would queue class-0001  class-0001/master.m3u8', 'would queue class-0002  class-0002/master.m3u8']);
    expect(await recordedCount(config)).toBe(0);

    const d = await startDaemon({ config, logger: testLogger() });
    daemons.push(d);
    const t = topology(config.namespace);
    const done: ClassTransferred[] = [];
    const sub = client.subscribe(t.subjects.transferred);
    void (async () => {
      for await (const m of sub) done.push(m.json<ClassTransferred>());
    })();
    const real = await scan(config);
    expect(real.summary.queued).toBe(3);
    expect(await recordedCount(config)).toBe(3);
    for (const until = Date.now() + 60_000; done.length < 3 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    expect(done.map((e) => e.status)).toEqual(['complete', 'complete', 'complete']);

    const again = await scan(config);
    expect(again.summary).toMatchObject({ queued: 0, skipped: 3, reasons: { 'already complete and unchanged at the destination': 3 } });
    expect(await recordedCount(config)).toBe(3);
    const forced = await scan(config, { force: true, dryRun: true });
    expect(forced.summary.queued).toBe(3);
  });

  it('scanner - reads an HTTP origin index file and queues matching entry playlists', async () => {
    const config = testConfig({
      NATS_URL: nats.url,
      FLANTS_SOURCE: `${origin.url}/cdn/`,
      FLANTS_DEST: 's3://dest-bucket/idx/',
      FLANTS_DEST_ENDPOINT: dst.endpoint,
    });
    const { summary, lines } = await scan(config);
    expect(summary).toMatchObject({ origin: 'index', seen: 2, queued: 2 });
    expect(lines).toEqual(['queue  alpha  alpha/master.m3u8', 'queue  beta  beta/master.m3u8']);
    expect(await recordedCount(config)).toBe(2);
    const js = jetstream(client);
    expect(js).toBeDefined();
  });
});
