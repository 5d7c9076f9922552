/**
 * An upgrade that kept the previous nats-server permissions: every crawl now
 * reads both dispatchers' backlogs, and the previous sample configuration let
 * the crawler read only the bulk one's. A review found such a crawler starting
 * without complaint and then failing every live crawl. It now refuses to
 * start, naming the permission to grant. The same for the aggregator's
 * backlog, which a scan's next class now waits on.
 */
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../cli/daemon.js';
import { startNatsServer } from '../dev/local/nats-server.js';
import { connectNats } from '../streams/connect-nats.js';
import { ensureTopology, topologyOptions } from '../streams/ensure-topology.js';
import { topology } from '../streams/topology.js';
import { natsPasswords as passwords } from './helpers/nats-passwords.js';
import { testConfig, testLogger } from './helpers/services.js';


describe('nats - an upgrade without the new permissions', () => {
  const cases = [
    {
      what: 'the live dispatcher backlog',
      grant: '"$JS.API.CONSUMER.INFO.FLANTS_WORK.dispatcher", ',
      refusal: /cannot read the live lane's transfer backlog \(consumer FLANTS_WORK\/dispatcher\).*allow it \$JS\.API\.CONSUMER\.INFO\.FLANTS_WORK\.dispatcher/,
    },
    {
      // Before a scan's next class waited for the aggregator.
      what: "the aggregator's backlog",
      grant: '"$JS.API.CONSUMER.INFO.FLANTS_EVENTS.aggregator_bulk",',
      refusal: /cannot read the aggregator's backlog \(consumer FLANTS_EVENTS\/aggregator_bulk\).*allow it \$JS\.API\.CONSUMER\.INFO\.FLANTS_EVENTS\.aggregator_bulk/,
    },
  ];
  it.each(cases)('nats - a crawler not allowed to read $what refuses to start, naming the permission', async ({ grant, refusal }) => {
    const saved = Object.fromEntries(Object.keys(passwords).map((k) => [k, process.env[k]]));
    Object.assign(process.env, passwords);
    // The sample configuration as it was before this permission was needed.
    const current = readFileSync(resolve('deploy/nats/flants.conf'), 'utf8');
    const previous = current.replace(grant, '');
    expect(previous).not.toBe(current);
    const conf = join(mkdtempSync(join(tmpdir(), 'flants-perm-')), 'flants.conf');
    writeFileSync(conf, previous);
    try {
      await using nats = await startNatsServer({ args: ['-c', conf] });
      const configFor = (user: string, password: string) =>
        testConfig({
          NATS_URL: nats.url, NATS_USER: user, NATS_PASSWORD: password, FLANTS_NAMESPACE: '',
          FLANTS_SOURCE: 'http://127.0.0.1:9/vod/', FLANTS_DEST: 's3://dest-bucket/', FLANTS_DEST_ENDPOINT: 'http://127.0.0.1:9', FLANTS_LAMBDA_ENDPOINT: 'http://127.0.0.1:9',
        });
      const admin = configFor('admin', passwords.FLANTS_ADMIN_PASSWORD);
      const nc = await connectNats(admin.nats, 'test-admin');
      try {
        await ensureTopology(await jetstreamManager(nc), topology(''), topologyOptions(admin));
      } finally {
        await nc.close();
      }
      await expect(
        startDaemon({ config: configFor('crawler', passwords.FLANTS_CRAWLER_PASSWORD), logger: testLogger(), actors: ['crawler'] }),
      ).rejects.toThrow(refusal);
    } finally {
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }, 60_000);
});
