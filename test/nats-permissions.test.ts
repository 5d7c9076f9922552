/**
 * The sample least-privilege nats-server configuration (deploy/nats/flants.conf)
 * really runs flants: an admin sets the topology up, then each actor runs in
 * its own daemon as its own user, and a class is transferred end to end.
 * Also: user/password authentication is enforced.
 */
import { resolve } from 'node:path';
import { pino } from 'pino';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import type { FlantsConfig } from '../config/load-config.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import { startNatsServer, type NatsServer } from '../dev/local/nats-server.js';
import type { S3Server } from '../dev/local/s3-server.js';
import { connectNats } from '../streams/connect-nats.js';
import { ensureTopology, topologyOptions } from '../streams/ensure-topology.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { readFleet } from '../observability/fleet-presence.js';
import { natsPasswords as passwords } from './helpers/nats-passwords.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startAsActorUsers } from './helpers/least-privilege.js';
import { startLambda, startS3, testConfig, testLogger } from './helpers/services.js';
import { jetstreamManager } from '@nats-io/jetstream';


describe('nats - least-privilege users per actor', () => {
  let nats: NatsServer;
  let dst: S3Server;
  let lambda: LocalLambda;
  let origin: Origin;
  const daemons: Daemon[] = [];
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    // nats-server reads the passwords from its environment ($VAR in the config).
    for (const [k, v] of Object.entries(passwords)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    nats = await startNatsServer({ args: ['-c', resolve('deploy/nats/flants.conf')] });
    [dst, lambda] = await Promise.all([startS3('dest-bucket'), startLambda()]);
    origin = await startOrigin({
      '/vod/perm/master.m3u8': '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv/index.m3u8\n',
      '/vod/perm/v/index.m3u8': '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n#EXT-X-ENDLIST\n',
      '/vod/perm/v/a.ts': 'a',
      '/vod/perm/v/b.ts': 'b',
    });
  });

  afterAll(async () => {
    for (const d of daemons) await d.stop();
    await Promise.all([lambda?.close(), dst?.close(), nats?.close(), origin?.close()]);
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });

  const configFor = (user: string, password: string): FlantsConfig =>
    testConfig({
      NATS_URL: nats.url,
      NATS_USER: user,
      NATS_PASSWORD: password,
      // The sample configuration names the production streams: no namespace.
      FLANTS_NAMESPACE: '',
      FLANTS_SOURCE: `${origin.url}/vod/`,
      FLANTS_DEST: 's3://dest-bucket/',
      FLANTS_DEST_ENDPOINT: dst.endpoint,
      FLANTS_LAMBDA_ENDPOINT: lambda.url,
      FLANTS_BATCH_WAIT: '50ms',
    });

  it('nats - refuses a connection without valid credentials', async () => {
    await expect(connectNats({ url: nats.url }, 'anonymous')).rejects.toThrow(/Authorization/i);
    await expect(connectNats({ url: nats.url, user: 'crawler', password: 'wrong' }, 'wrong')).rejects.toThrow(/Authorization/i);
  });

  it('nats - a stream set up by an older flants: an actor user is told to run the new setup, which adds the bulk trigger subject', async () => {
    const admin = configFor('admin', passwords.FLANTS_ADMIN_PASSWORD);
    const nc = await connectNats(admin.nats, 'test-upgrade');
    try {
      const t = topology('');
      const jsm = await jetstreamManager(nc);
      // What `flants setup` made before the bulk trigger subject existed.
      await ensureTopology(jsm, t, topologyOptions(admin));
      await jsm.streams.update(t.streams.classes, { subjects: [t.subjects.recorded, t.subjects.transferred] });
      const scanner = configFor('scanner', passwords.FLANTS_SCANNER_PASSWORD);
      await expect(startDaemon({ config: scanner, logger: testLogger(), actors: ['scanner'] })).rejects.toThrow(
        /FLANTS_CLASSES was set up by an older flants and lacks class\.recorded\.bulk.*run this version's `flants setup` once/,
      );
      await ensureTopology(jsm, t, topologyOptions(admin));
      expect((await jsm.streams.info(t.streams.classes)).config.subjects).toEqual([t.subjects.recorded, t.subjects.transferred, t.subjects.recordedBulk]);
    } finally {
      await nc.close();
    }
  });

  it('nats - each actor as its own least-privilege user transfers a class end to end', async () => {
    const admin = configFor('admin', passwords.FLANTS_ADMIN_PASSWORD);
    const nc = await connectNats(admin.nats, 'test-admin');
    try {
      const t = topology('');
      await startAsActorUsers(nc, t, configFor, daemons);
      const done = new Promise<ClassTransferred>((resolve) => {
        const sub = nc.subscribe(t.subjects.transferred, { callback: (_e, m) => (sub.unsubscribe(), resolve(m.json<ClassTransferred>())) });
      });
      await jetstream(nc).publish(t.subjects.recorded, 'perm');
      const e = await Promise.race([done, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no outcome in 60 s')), 60_000))]);
      expect(e).toMatchObject({ classId: 'perm', status: 'complete', files: 4 });
      // A scan's trigger, in the bulk lane: the scanner's, crawler's and dispatcher's bulk consumers.
      const again = new Promise<ClassTransferred>((resolve) => {
        const sub = nc.subscribe(t.subjects.transferred, { callback: (_e, m) => (sub.unsubscribe(), resolve(m.json<ClassTransferred>())) });
      });
      const scanner = await connectNats(configFor('scanner', passwords.FLANTS_SCANNER_PASSWORD).nats, 'test-scan');
      await jetstream(scanner).publish(t.subjects.recordedBulk, JSON.stringify({ classId: 'perm' }));
      await scanner.close();
      const bulk = await Promise.race([again, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no outcome in 60 s')), 60_000))]);
      expect(bulk).toMatchObject({ classId: 'perm', status: 'complete', files: 4 });
      // Each actor user may keep its presence record: the fleet view lists all four processes.
      const fleet = await readFleet(nc, await jetstreamManager(nc), t);
      expect(fleet.flatMap((m) => Object.keys(m.actors)).sort()).toEqual(['aggregator', 'crawler', 'dispatcher', 'scanner']);
      // A user who may list the bucket but not read its records is told so, not shown an empty fleet.
      const crawler = await connectNats(configFor('crawler', passwords.FLANTS_CRAWLER_PASSWORD).nats, 'test-crawler-status');
      try {
        await expect(readFleet(crawler, await jetstreamManager(crawler), t)).rejects.toThrow(/permission/i);
      } finally {
        await crawler.close();
      }
    } finally {
      await nc.close();
    }
  });

  it('nats - a consumer deleted under a least-privilege actor: it says to run setup, and pulls again once setup has run', async () => {
    const admin = configFor('admin', passwords.FLANTS_ADMIN_PASSWORD);
    const nc = await connectNats(admin.nats, 'test-deleted');
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(l) });
    try {
      const t = topology('');
      const jsm = await jetstreamManager(nc);
      await ensureTopology(jsm, t, topologyOptions(admin));
      const d = await startDaemon({ config: configFor('scanner', passwords.FLANTS_SCANNER_PASSWORD), logger, actors: ['scanner'] });
      daemons.push(d);
      await jsm.consumers.delete(t.streams.classes, t.consumers.scanner);
      const { seq } = await jetstream(nc).publish(t.subjects.recorded, 'perm');
      const told = /consumer FLANTS_CLASSES\/scanner is gone and could not be created again; run `flants setup` as the admin user/;
      for (const end = Date.now() + 20_000; !lines.some((l) => told.test(l)); await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > end) throw new Error(`not told to run setup; logged:\n${lines.join('')}`);
      }
      // The refusal names the missing permission too.
      expect(lines.find((l) => told.test(l))).toMatch(/Permissions Violation/);
      await ensureTopology(jsm, t, topologyOptions(admin));
      const taken = async () => (await jsm.consumers.info(t.streams.classes, t.consumers.scanner).catch(() => undefined))?.ack_floor.stream_seq ?? 0;
      for (const end = Date.now() + 20_000; (await taken()) < seq; await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > end) throw new Error('the trigger was not taken after setup');
      }
    } finally {
      await nc.close();
    }
  });
});
