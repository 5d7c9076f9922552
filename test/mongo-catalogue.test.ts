/**
 * The MongoDB catalogue against a real server. MongoDB cannot be installed on
 * the development machines here, so these tests run only when MONGODB_URL is
 * set, and say so loudly when they are skipped. The driver is never faked.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanCatalogue, supportsChangeStreams, watchCatalogue } from '../discovery/mongo-catalogue.js';
import { isSkipped, type Candidate, type Skipped } from '../discovery/candidate.js';
import { testLogger } from './helpers/services.js';

const url = process.env.MONGODB_URL;
if (!url) {
  console.warn('\n*** MongoDB catalogue tests SKIPPED: set MONGODB_URL (e.g. mongodb://127.0.0.1:27017) to run them against a real server. ***\n');
}

describe.skipIf(!url)('scanner - MongoDB catalogue (real server)', () => {
  let client: MongoClient;
  const collection = `classes_${randomBytes(4).toString('hex')}`;
  const config = {
    db: 'flants_test',
    collection,
    filter: { status: { $in: ['broadcast', 'aborted'] } },
    fields: { classId: 'classId', manifest: 'manifest', recordedAt: 'recordedAt', test: 'test', status: 'status' },
    rules: { skipStatuses: ['aborted'], requireManifest: true },
    batchSize: 50,
  };

  beforeAll(async () => {
    client = new MongoClient(url as string);
    await client.connect();
    const docs = Array.from({ length: 500 }, (_, i) => ({
      classId: `m${String(i).padStart(4, '0')}`,
      manifest: i % 100 === 7 ? '' : `m${i}/master.m3u8`,
      recordedAt: new Date(Date.UTC(2026, 0, 1) + i * 60_000),
      test: i % 100 === 3,
      status: i % 100 === 5 ? 'aborted' : i % 100 === 9 ? 'draft' : 'broadcast',
    }));
    await client.db(config.db).collection(collection).insertMany(docs);
  });

  afterAll(async () => {
    await client?.db(config.db).collection(collection).drop().catch(() => undefined);
    await client?.close();
  });

  const collect = async (since?: Date) => {
    const out: Array<Candidate | Skipped> = [];
    for await (const x of scanCatalogue(client, config, since)) out.push(x);
    return out;
  };

  it('scanner - full scan with cursor batches applies the filter and the rules, with reasons', async () => {
    const all = await collect();
    expect(all).toHaveLength(495); // status draft is outside the filter
    const skipped = all.filter(isSkipped);
    expect(skipped).toHaveLength(15);
    expect(skipped.filter((s) => /test class/.test(s.reason))).toHaveLength(5);
    expect(skipped.filter((s) => /status is aborted/.test(s.reason))).toHaveLength(5);
    expect(skipped.filter((s) => /no manifest/.test(s.reason))).toHaveLength(5);
  });

  it('scanner - incremental scan returns only classes recorded after the watermark', async () => {
    const since = new Date(Date.UTC(2026, 0, 1) + 449 * 60_000);
    const recent = await collect(since);
    expect(recent.map((x) => x.classId)).toEqual(Array.from({ length: 50 }, (_, i) => `m0${450 + i}`).filter((id) => !id.endsWith('59')));
  });

  it('scanner - the change stream picks up a newly recorded class (replica sets)', async (ctx) => {
    if (!(await supportsChangeStreams(client))) {
      console.warn('*** change stream test SKIPPED: the MongoDB at MONGODB_URL is not a replica set ***');
      ctx.skip();
    }
    const seen: Array<Candidate | Skipped> = [];
    const w = watchCatalogue(client, config, async (x) => void seen.push(x), testLogger());
    await new Promise((r) => setTimeout(r, 500));
    await client.db(config.db).collection(collection).insertOne({ classId: 'fresh', manifest: 'fresh/master.m3u8', recordedAt: new Date(), status: 'broadcast' });
    for (const until = Date.now() + 10_000; seen.length === 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    await w.stop();
    expect(seen).toEqual([expect.objectContaining({ classId: 'fresh', origin: 'change-stream' })]);
  });
});
