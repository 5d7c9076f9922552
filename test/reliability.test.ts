/**
 * Reliability on real parts: a failed file is retried ahead of the backlog
 * (10 jobs or 10,000, same wait); throttling slows the dispatcher down and
 * uses up no attempt; a re-triggered class copies nothing already identical
 * and is reported verified (FLANTS_SKIP_IDENTICAL, on the run's Ceph RADOS
 * Gateway: real ETags, metadata and LastModified).
 */
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import { startLocalLambda, type LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology, type Topology } from '../streams/topology.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { natsClient, startLambda, startNats, startRgwBucket, testConfig, testLogger, type RgwBucket, useRgwCredentials } from './helpers/services.js';

useRgwCredentials();

const media = (names: string[]) => ['#EXTM3U', '#EXT-X-TARGETDURATION:2', ...names.flatMap((n) => ['#EXTINF:2,', n]), '#EXT-X-ENDLIST', ''].join('\n');

describe('reliability - retries, throttling, idempotency', () => {
  let nats: NatsServer;
  let dst: RgwBucket;
  let lambda: LocalLambda;
  let origin: Origin;
  let client: Awaited<ReturnType<typeof natsClient>>;
  let js: JetStreamClient;
  const daemons: Daemon[] = [];
  const outcomes = new Map<string, ClassTransferred[]>();

  const start = async (prefix: string, env: Record<string, string> = {}, lambdaUrl = lambda.url): Promise<{ t: Topology; d: Daemon }> => {
    const config = testConfig({
      NATS_URL: nats.url,
      FLANTS_SOURCE: `${origin.url}/vod/`,
      FLANTS_DEST: `s3://${dst.name}/${prefix}`,
      FLANTS_DEST_ENDPOINT: dst.endpoint,
      FLANTS_LAMBDA_ENDPOINT: lambdaUrl,
      FLANTS_BATCH_WAIT: '50ms',
      ...env,
    });
    const d = await startDaemon({ config, logger: testLogger() });
    daemons.push(d);
    const t = topology(config.namespace);
    const sub = client.subscribe(t.subjects.transferred);
    void (async () => {
      for await (const m of sub) {
        const e = m.json<ClassTransferred>();
        const key = `${prefix}${e.classId}`;
        outcomes.set(key, [...(outcomes.get(key) ?? []), e]);
      }
    })();
    return { t, d };
  };

  const outcome = async (key: string, n = 1, timeoutMs = 90_000) => {
    for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      const e = outcomes.get(key);
      if (e && e.length >= n) return e[n - 1] as ClassTransferred;
    }
    throw new Error(`no outcome ${n} for ${key}`);
  };

  beforeAll(async () => {
    [nats, dst, lambda] = await Promise.all([startNats(), startRgwBucket('dest'), startLambda()]);
    origin = await startOrigin({});
    client = await natsClient(nats.url);
    js = jetstream(client);
  });

  afterAll(async () => {
    for (const d of daemons) await d.stop();
    await client?.close();
    await Promise.all([lambda?.close(), nats?.close(), origin?.close()]);
  });

  /** Enqueues a class of `backlog` files whose first segment fails once; returns the retry's wait. */
  const retryWait = async (backlog: number): Promise<{ wait: number; copied: number }> => {
    const id = `backlog${backlog}`;
    const names = ['flaky.ts', ...Array.from({ length: backlog }, (_, i) => `b${i}.ts`)];
    origin.files.set(`/vod/${id}/index.m3u8`, Buffer.from(media(names)));
    for (const n of names) origin.files.set(`/vod/${id}/${n}`, Buffer.from(n));
    origin.faults.set(`/vod/${id}/flaky.ts`, { status: 503, times: 1 });
    const { t, d } = await start(`${id}/`, { FLANTS_RETRY_BACKOFF: '1s', FLANTS_WAVE_CONCURRENCY: '2', FLANTS_BATCH_SIZE: '20' });
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: id, manifest: `${id}/index.m3u8` }));
    const path = `/vod/${id}/flaky.ts`;
    const times: number[] = [];
    for (const until = Date.now() + 60_000; times.length < 2 && Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
      times.length = 0;
      origin.requests.forEach((r, i) => r === `GET ${path}` && times.push(origin.requestTimes[i] as number));
    }
    const wait = (times[1] as number) - (times[0] as number);
    const copied = origin.requests.filter((r, i) => r.startsWith(`GET /vod/${id}/b`) && (origin.requestTimes[i] as number) <= (times[1] as number)).length;
    await d.stop();
    console.log(`retry wait with a backlog of ${backlog}: ${wait} ms (${copied} backlog files copied by then)`);
    return { wait, copied };
  };

  it('reliability - a failed file is retried after its backoff, ahead of a backlog of 10 or 10,000', async () => {
    const small = await retryWait(10);
    const large = await retryWait(10_000);
    expect(small.wait).toBeGreaterThanOrEqual(900);
    // The retry waits its backoff plus at most a wave for a free slot; at the
    // back of the queue it would wait for all 10,000 jobs (over a minute here).
    expect(large.wait).toBeLessThan(small.wait + 2_000);
    expect(large.copied).toBeLessThan(10_000 * 0.1);
  }, 120_000);

  it('reliability - Lambda 429s and origin 429s slow the dispatcher down and use up no attempt', async () => {
    const names = Array.from({ length: 200 }, (_, i) => `t${i}.ts`);
    origin.files.set('/vod/throttle/index.m3u8', Buffer.from(media(names)));
    for (const n of names) {
      origin.files.set(`/vod/throttle/${n}`, Buffer.from(n.repeat(50)));
      origin.delays.set(`/vod/throttle/${n}`, 20);
    }
    origin.faults.set('/vod/throttle/t7.ts', { status: 429, times: 5 });
    await using tight = await startLocalLambda({ concurrency: 2, timeoutMs: 60_000, workers: 1 });
    const { t, d } = await start('throttle/', { FLANTS_BATCH_SIZE: '10', FLANTS_WAVE_CONCURRENCY: '8', FLANTS_MAX_ATTEMPTS: '3' }, tight.url);
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'throttle', manifest: 'throttle/index.m3u8' }));
    const e = await outcome('throttle/throttle');
    expect(e.status).toBe('complete');
    expect(e.files).toBe(201);
    expect(e.retries).toBe(0);
    expect(tight.stats().throttled).toBeGreaterThan(0);
    expect(d.dispatcher?.limit().throttles).toBeGreaterThan(0);
    expect(tight.stats().peak).toBeLessThanOrEqual(2);
    // The origin's 429s outlasted FLANTS_MAX_ATTEMPTS and still cost no attempt.
    expect(origin.requests.filter((r) => r === 'GET /vod/throttle/t7.ts')).toHaveLength(6);
  });

  it('reliability - re-triggering a complete class copies nothing identical and reports it verified', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `v${i}.ts`);
    origin.files.set('/vod/again/index.m3u8', Buffer.from(media(names)));
    for (const n of names) origin.files.set(`/vod/again/${n}`, Buffer.from(`${n} `.repeat(500)));
    const { t } = await start('again/');
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'again', manifest: 'again/index.m3u8' }));
    const first = await outcome('again/again');
    expect(first).toMatchObject({ status: 'complete', files: 21, unchanged: 0, verified: false });
    const stamp = async (k: string) => (await dst.s3.send(new HeadObjectCommand({ Bucket: dst.name, Key: `again/again/${k}` }))).LastModified?.getTime();
    const before = await Promise.all(names.map(stamp));
    await new Promise((r) => setTimeout(r, 1_100)); // a rewrite would show a later LastModified

    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'again', manifest: 'again/index.m3u8' }));
    const second = await outcome('again/again', 2);
    expect(second).toMatchObject({ status: 'complete', files: 21, unchanged: 21, verified: true, bytes: 0, verifiedBytes: first.bytes });
    expect(await Promise.all(names.map(stamp))).toEqual(before);

    // Change one source file: exactly that one is copied again.
    origin.files.set('/vod/again/v3.ts', Buffer.from('changed'));
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'again', manifest: 'again/index.m3u8' }));
    const third = await outcome('again/again', 3);
    expect(third).toMatchObject({ status: 'complete', files: 21, unchanged: 20, verified: false });
    const after = await Promise.all(names.map(stamp));
    expect(after.filter((v, i) => v !== before[i])).toHaveLength(1);
    expect(after[3]).not.toBe(before[3]);
  });

  it('reliability - consumers deleted while the daemon runs are created again after the last acknowledged message, and the next class completes', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `d${i}.ts`);
    for (const id of ['kept', 'gone']) {
      origin.files.set(`/vod/${id}/index.m3u8`, Buffer.from(media(names)));
      for (const n of names) origin.files.set(`/vod/${id}/${n}`, Buffer.from(n));
    }
    const { t } = await start('gone/');
    const jsm = await js.jetstreamManager();
    // A class done before the deletion: once the actors have read their consumers' ack floors (every 10 s), it must
    // not be replayed by the consumers created again (the trigger history is kept: a consumer from the first message
    // would run every class ever triggered again).
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'kept', manifest: 'kept/index.m3u8' }));
    expect(await outcome('gone/kept')).toMatchObject({ status: 'complete', files: 31 });
    await new Promise((r) => setTimeout(r, 11_000));
    const doomed = [
      [t.streams.classes, t.consumers.scanner],
      [t.streams.work, t.consumers.crawler],
      [t.streams.work, t.consumers.dispatcher],
      [t.streams.work, t.consumers.dispatcherBulk],
      [t.streams.events, t.consumers.aggregator],
    ] as const;
    const before = await Promise.all(doomed.map(([s, c]) => jsm.consumers.info(s, c)));
    for (const [s, c] of doomed) await jsm.consumers.delete(s, c);
    const keptFetches = () => origin.requests.filter((r) => r === 'GET /vod/kept/index.m3u8').length;
    const fetched = keptFetches();
    const { seq } = await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'gone', manifest: 'gone/index.m3u8' }));
    // Before, every fetch failed ("heartbeats missed") until a restart: the trigger sat in the stream for good.
    const e = await outcome('gone/gone', 1, 60_000);
    expect(e).toMatchObject({ status: 'complete', files: 31 });
    expect(keptFetches()).toBe(fetched);
    expect(outcomes.get('gone/kept')).toHaveLength(1);
    // Each consumer is created again by its own actor once that actor's pulls have failed for GONE_FOR_MS (5 s): an
    // actor with nothing to do for this class (the bulk lane's dispatcher) may get there after the class is reported.
    const infoWhenBack = async (s: string, c: string) => {
      for (const deadline = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 250))) {
        try {
          return await jsm.consumers.info(s, c);
        } catch (err) {
          if (Date.now() > deadline) throw err;
        }
      }
    };
    const after = await Promise.all(doomed.map(([s, c]) => infoWhenBack(s, c)));
    after.forEach((a, i) => {
      const b = before[i] as (typeof before)[number];
      // Created again with the settings a start gives it, from just after the last message acknowledged.
      expect({ ack_wait: a.config.ack_wait, max_deliver: a.config.max_deliver, max_ack_pending: a.config.max_ack_pending, filter_subject: a.config.filter_subject }).toEqual({
        ack_wait: b.config.ack_wait, max_deliver: b.config.max_deliver, max_ack_pending: b.config.max_ack_pending, filter_subject: b.config.filter_subject,
      });
    });
    // The trigger history is read on from just after the last trigger acknowledged; the work queues hold only what is
    // left to do, from their start.
    expect(after[0]?.config).toMatchObject({ deliver_policy: 'by_start_sequence', opt_start_seq: (before[0]?.ack_floor.stream_seq ?? 0) + 1 });
    for (const a of after.slice(1)) expect(a.config.deliver_policy).toBe('all');
    expect(after[0]?.config.opt_start_seq).toBeLessThanOrEqual(seq);
    expect(after[0]?.config.opt_start_seq).toBeGreaterThan(1);
  });
});
