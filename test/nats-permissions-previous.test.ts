/**
 * An upgrade that kept the previous nats-server permissions, which do not
 * yet grant the bulk lane's event subjects (flants.agg-bulk.*). A review
 * found such a dispatcher's results refused: every wave came back as
 * crashed and its files were copied again and again. The actors now publish
 * a scan's events on the live lane's subjects when refused the bulk ones,
 * and every class is still reported once.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import type { Daemon } from '../cli/daemon.js';
import { startNatsServer } from '../dev/local/nats-server.js';
import { connectNats } from '../streams/connect-nats.js';
import { topology } from '../streams/topology.js';
import { natsPasswords as passwords } from './helpers/nats-passwords.js';
import { startOrigin } from './helpers/origin.js';
import { startAsActorUsers } from './helpers/least-privilege.js';
import { startLambda, startS3, testConfig, watchOutcomes } from './helpers/services.js';

describe('nats - an upgrade that kept the previous permissions', () => {
  it("nats - actors refused the bulk lane's event subjects report a scan's classes on the live lane's, each once", async () => {
    const saved = Object.fromEntries(Object.keys(passwords).map((k) => [k, process.env[k]]));
    Object.assign(process.env, passwords);
    const current = readFileSync(resolve('deploy/nats/flants.conf'), 'utf8');
    const previous = current.replace(/"flants\.agg-bulk\.[a-z]+",\s*/g, '');
    expect(previous.match(/flants\.agg-bulk\./g)).toBeNull();
    const conf = join(mkdtempSync(join(tmpdir(), 'flants-perm-')), 'flants.conf');
    writeFileSync(conf, previous);
    const daemons: Daemon[] = [];
    try {
      await using nats = await startNatsServer({ args: ['-c', conf] });
      await using dst = await startS3('dest-bucket');
      await using lambda = await startLambda();
      await using origin = await startOrigin({
        '/vod/scan1/master.m3u8': '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n#EXT-X-ENDLIST\n',
        '/vod/scan1/a.ts': 'a',
        '/vod/scan1/b.ts': 'b',
      });
      const configFor = (user: string, password: string) =>
        testConfig({
          NATS_URL: nats.url, NATS_USER: user, NATS_PASSWORD: password, FLANTS_NAMESPACE: '',
          FLANTS_SOURCE: `${origin.url}/vod/`, FLANTS_DEST: 's3://dest-bucket/', FLANTS_DEST_ENDPOINT: dst.endpoint, FLANTS_LAMBDA_ENDPOINT: lambda.url,
          FLANTS_BATCH_WAIT: '50ms',
        });
      const admin = configFor('admin', passwords.FLANTS_ADMIN_PASSWORD);
      const nc = await connectNats(admin.nats, 'test-admin');
      try {
        const t = topology('');
        await startAsActorUsers(nc, t, configFor, daemons);
        const outcomes = watchOutcomes(nc, t.subjects.transferred);
        const js = jetstream(nc);
        // A scan's class that copies (count, results) and one whose entry playlist is missing (a failure).
        await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: 'scan1' }));
        await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: 'missing' }));
        expect((await outcomes.of('scan1', 1, 60_000))[0]).toMatchObject({ status: 'complete', files: 3 });
        expect((await outcomes.of('missing', 1, 60_000))[0]).toMatchObject({ status: 'failed' });
        await new Promise((r) => setTimeout(r, 1_000));
        expect(outcomes.byClass.get('scan1')).toHaveLength(1);
        expect(outcomes.byClass.get('missing')).toHaveLength(1);
        // Each file was copied once: no wave came back for a refused report.
        const gets = origin.requests.filter((r) => /\/scan1\/[ab]\.ts$/.test(r));
        expect(gets.length).toBeLessThanOrEqual(4); // a GET each, and at most a HEAD-like re-read each
        outcomes.stop();
      } finally {
        await nc.close();
      }
    } finally {
      for (const d of daemons) await d.stop();
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }, 120_000);
});
