/**
 * Re-sync audits by replaying the stream: after a transfer, corrupt, delete
 * and add destination objects; the audit finds exactly those, the repair
 * re-copies the drifted files and deletes nothing, and once the added object
 * is removed an audit comes back clean. Replay by time and by
 * sequence, deep (in-Lambda hashing) and the CLI's exit code are covered too.
 * Source and destination are buckets on the run's Ceph RADOS Gateway.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit, type AuditOptions } from '../audit/run-audit.js';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import type { FlantsConfig } from '../config/load-config.js';
import { makeLambdaClient } from '../lambda/invoke-wave.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import { writeSyntheticLibrary, type Library } from '../dev/local/synthetic-library.js';
import { objectIo } from '../storage/object-http.js';
import { makeSourceReader } from '../storage/source-reader.js';
import { SourceRoot } from '../storage/source-root.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology, type Topology } from '../streams/topology.js';
import { getObject, natsClient, startLambda, startNats, startRgwBucket, testConfig, testLogger, type RgwBucket, useRgwCredentials } from './helpers/services.js';

useRgwCredentials();

describe('audit - replay, find drift, repair', () => {
  let nats: NatsServer;
  let src: RgwBucket;
  let dst: RgwBucket;
  let lambda: LocalLambda;
  let daemon: Daemon;
  let config: FlantsConfig;
  let t: Topology;
  let client: Awaited<ReturnType<typeof natsClient>>;
  let js: JetStreamClient;
  let library: Library;
  let sinceMark: Date;
  let seqMark: number;
  const outcomes: ClassTransferred[] = [];

  const audit = (o: Partial<AuditOptions> = {}) =>
    runAudit(
      {
        config,
        nc: client,
        root: new SourceRoot(config.source),
        reader: makeSourceReader(new SourceRoot(config.source), objectIo(src.s3)),
        dest: dst.s3,
        lambda: makeLambdaClient({ functionName: 'local', endpoint: lambda.url, region: 'us-east-1', local: true }),
        logger: testLogger(),
      },
      { deep: false, repair: false, ...o },
    );

  const waitOutcomes = async (n: number) => {
    for (const until = Date.now() + 60_000; outcomes.length < n && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    expect(outcomes.length).toBeGreaterThanOrEqual(n);
  };

  /** NATS, source and destination, for the daemon's config and for the CLI alike. */
  const endsEnv = () => ({
    NATS_URL: nats.url,
    FLANTS_SOURCE: `s3://${src.name}/lib/`,
    FLANTS_SOURCE_ENDPOINT: src.endpoint,
    FLANTS_DEST: `s3://${dst.name}/mirror/`,
    FLANTS_DEST_ENDPOINT: dst.endpoint,
  });

  beforeAll(async () => {
    [nats, src, dst, lambda] = await Promise.all([startNats(), startRgwBucket('source'), startRgwBucket('dest'), startLambda()]);
    library = await writeSyntheticLibrary(src.s3, src.name, 'lib/', { classes: 4, renditions: 2, segments: 10, minBytes: 2_000, maxBytes: 50_000 });
    config = testConfig({ ...endsEnv(), FLANTS_LAMBDA_ENDPOINT: lambda.url, FLANTS_BATCH_WAIT: '50ms' });
    t = topology(config.namespace);
    daemon = await startDaemon({ config, logger: testLogger() });
    client = await natsClient(nats.url);
    js = jetstream(client);
    const sub = client.subscribe(t.subjects.transferred);
    void (async () => {
      for await (const m of sub) outcomes.push(m.json<ClassTransferred>());
    })();
    const [c0, c1, c2, c3] = library.classIds as [string, string, string, string];
    await js.publish(t.subjects.recorded, c0);
    await js.publish(t.subjects.recorded, c1);
    await waitOutcomes(2);
    await new Promise((r) => setTimeout(r, 20));
    sinceMark = new Date();
    const jsm = await jetstreamManager(client);
    seqMark = (await jsm.streams.info(t.streams.classes)).state.last_seq + 1;
    await js.publish(t.subjects.recorded, c2);
    // As `flants scan` queues a class: the replay must read the bulk trigger subject too.
    await js.publish(t.subjects.recordedBulk, c3);
    await waitOutcomes(4);
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    await client?.close();
    await Promise.all([lambda?.close(), nats?.close()]);
  });

  it('audit - a clean transfer audits clean', async () => {
    const r = await audit();
    expect(r.totals).toMatchObject({ classes: 4, drift: 0, errors: 0, unverified: 0 });
    expect(r.totals.files).toBe(library.files.length);
  });

  it('audit - replays by time and by sequence', async () => {
    const bySince = await audit({ since: sinceMark });
    const bySeq = await audit({ fromSeq: seqMark });
    const later = library.classIds.slice(2).sort();
    expect(bySince.classes.map((c) => c.classId)).toEqual(later);
    expect(bySeq.classes.map((c) => c.classId)).toEqual(later);
  });

  it('audit - finds exactly the corrupted, deleted and added objects; repair re-copies the drifted ones and leaves the extra; then clean', async () => {
    const d = dst.s3;
    const [c0, c1] = library.classIds as [string, string];
    const corruptKey = `mirror/${c0}/r0/seg00001.ts`;
    const size = (await getObject(d, dst.name, corruptKey)).length;
    await d.send(new PutObjectCommand({ Bucket: dst.name, Key: corruptKey, Body: randomBytes(size) }));
    await d.send(new DeleteObjectCommand({ Bucket: dst.name, Key: `mirror/${c1}/r1/seg00002.ts` }));
    await d.send(new PutObjectCommand({ Bucket: dst.name, Key: `mirror/${c0}/r0/intruder.ts`, Body: 'x' }));
    const expected = [
      { path: `${c0}/r0/intruder.ts`, problem: 'extra' },
      { path: `${c0}/r0/seg00001.ts`, problem: 'checksum' },
      { path: `${c1}/r1/seg00002.ts`, problem: 'missing' },
    ];
    const drift = (r: Awaited<ReturnType<typeof audit>>) =>
      r.classes.flatMap((c) => c.drift.map(({ path, problem }) => ({ path, problem }))).sort((a, b) => a.path.localeCompare(b.path));

    const found = await audit();
    expect(drift(found)).toEqual(expected);
    expect(found.totals.drift).toBe(3);
    const deep = await audit({ deep: true });
    expect(drift(deep)).toEqual(expected);
    expect(deep.classes.flatMap((c) => c.drift).find((x) => x.problem === 'checksum')?.detail).toMatch(/SHA-256/);

    // The CLI exits non-zero on drift, as `rclone check` does.
    const run = promisify(execFile);
    const env = { ...process.env, ...endsEnv(), FLANTS_NAMESPACE: config.namespace, LOG_LEVEL: 'error' };
    const cli = await run(process.execPath, ['dist/cli.js', 'audit'], { env }).then(() => ({ code: 0, stdout: '' }), (e) => ({ code: e.code as number, stdout: e.stdout as string }));
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/3 differences/);

    const repaired = await audit({ repair: true });
    // Repair re-copies the drifted files and deletes nothing: the extra object is reported and left for an operator.
    expect(repaired.repair).toMatchObject({ extras: 1, requeued: 2 });
    expect(repaired.repair?.runs.map((r) => [r.classId, r.status, r.files]).sort()).toEqual([[c0, 'complete', 1], [c1, 'complete', 1]]);
    expect((await getObject(d, dst.name, `mirror/${c0}/r0/intruder.ts`)).toString()).toBe('x');
    expect(drift(await audit())).toEqual([{ path: `${c0}/r0/intruder.ts`, problem: 'extra' }]);
    await d.send(new DeleteObjectCommand({ Bucket: dst.name, Key: `mirror/${c0}/r0/intruder.ts` }));
    const again = await audit();
    expect(again.totals).toMatchObject({ drift: 0, errors: 0 });
    const deepAgain = await audit({ deep: true });
    expect(deepAgain.totals.drift).toBe(0);
    // The report is in the destination under the reserved prefix.
    const stored = JSON.parse((await getObject(d, dst.name, again.reportKey)).toString());
    expect(stored.totals.drift).toBe(0);
    expect(again.reportKey.startsWith('mirror/_flants/reports/audits/')).toBe(true);
  });

  it('audit - repairing one of two classes whose entry playlists share a folder never deletes the other\'s files', async () => {
    const s = src.s3;
    const d = dst.s3;
    const media = (names: string[]) => ['#EXTM3U', '#EXT-X-TARGETDURATION:4', ...names.flatMap((n) => ['#EXTINF:4,', n]), '#EXT-X-ENDLIST', ''].join('\n');
    const put = (bucket: string, Key: string, Body: string) => (bucket === src.name ? s : d).send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
    await put(src.name, 'lib/videos/a.m3u8', media(['a0.ts', 'a1.ts']));
    await put(src.name, 'lib/videos/b.m3u8', media(['b0.ts']));
    for (const n of ['a0', 'a1', 'b0']) await put(src.name, `lib/videos/${n}.ts`, `${n} `.repeat(500));
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'shared-a', manifest: 'videos/a.m3u8' }));
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'shared-b', manifest: 'videos/b.m3u8' }));
    for (const until = Date.now() + 60_000; Date.now() < until && !['shared-a', 'shared-b'].every((c) => outcomes.some((o) => o.classId === c)); ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(outcomes.filter((o) => o.classId.startsWith('shared-')).map((o) => o.status)).toEqual(['complete', 'complete']);
    const bKeys = ['mirror/videos/b.m3u8', 'mirror/videos/b0.ts'];
    await d.send(new DeleteObjectCommand({ Bucket: dst.name, Key: 'mirror/videos/a1.ts' }));

    const repaired = await audit({ classes: ['shared-a'], repair: true });
    // b's files are not a's extras: they are neither reported nor touched.
    expect(repaired.classes.flatMap((c) => c.drift.map(({ path, problem }) => ({ path, problem })))).toEqual([{ path: 'videos/a1.ts', problem: 'missing' }]);
    expect(repaired.repair).toMatchObject({ requeued: 1 });
    for (const key of bKeys) expect((await getObject(d, dst.name, key)).length, key).toBeGreaterThan(0);
    expect((await getObject(d, dst.name, 'mirror/videos/a1.ts')).toString()).toBe('a1 '.repeat(500));
    const again = await audit({ classes: ['shared-a', 'shared-b'] });
    expect(again.totals).toMatchObject({ classes: 2, drift: 0, errors: 0 });
  });
});
