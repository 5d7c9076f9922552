/**
 * The compare-and-set buckets stay single-replica on servers whose replicated
 * compare-and-set can accept two writes against one revision (before 2.11):
 * asking for more is refused at start with the setting named, not found out
 * later from missing files.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../cli/daemon.js';
import { startNatsCluster } from '../dev/local/nats-cluster.js';
import { assertStateReplicasSafe, atLeast, bucketReplicas } from '../streams/state-replicas.js';
import { topology } from '../streams/topology.js';
import { natsClient, startNats, testConfig, testLogger, uniqueName } from './helpers/services.js';

describe('state replicas - exact counts before availability', () => {
  it('state replicas - compares server versions', () => {
    expect(atLeast('2.9.10', [2, 11, 0])).toBe(false);
    expect(atLeast('2.10.22', [2, 11, 0])).toBe(false);
    expect(atLeast('2.11.0', [2, 11, 0])).toBe(true);
    expect(atLeast('2.12.1-beta.1', [2, 11, 0])).toBe(true);
    expect(atLeast('3.0.0', [2, 11, 0])).toBe(true);
  });

  it('state replicas - one replica is always allowed; more only from 2.11', () => {
    expect(() => assertStateReplicasSafe('2.9.10', 1)).not.toThrow();
    expect(() => assertStateReplicasSafe('2.11.3', 3)).not.toThrow();
    expect(() => assertStateReplicasSafe('2.10.22', 3)).toThrow(/FLANTS_STATE_REPLICAS=3 needs nats-server 2\.11\.0 or later, and this server is 2\.10\.22/);
    expect(() => assertStateReplicasSafe(undefined, 3)).toThrow(/unknown version/);
  });

  it('state replicas - a daemon asked for replicated state on this machine\'s server refuses to start', async () => {
    await using nats = await startNats();
    const config = testConfig({ NATS_URL: nats.url, FLANTS_SOURCE: 'http://127.0.0.1:1/vod/', FLANTS_DEST: 's3://dest-bucket/', FLANTS_STATE_REPLICAS: '3' });
    const version = (await import('node:child_process')).execFileSync('nats-server', ['--version'], { encoding: 'utf8' });
    if (atLeast(version.replace(/^\D*/, '').trim(), [2, 11, 0])) {
      console.log(`state replicas: nats-server ${version.trim()} keeps replicated compare-and-set exact; the refusal is not exercised`);
      return;
    }
    await expect(startDaemon({ config, logger: testLogger(), actors: ['aggregator'] })).rejects.toThrow(/FLANTS_STATE_REPLICAS=3 needs nats-server 2\.11\.0/);
  });

  it('state replicas - a bucket made with 3 replicas before is refused, and `flants setup` brings it to one', async () => {
    await using cluster = await startNatsCluster();
    const version = (await import('node:child_process')).execFileSync('nats-server', ['--version'], { encoding: 'utf8' }).replace(/^\D*/, '').trim();
    if (atLeast(version, [2, 11, 0])) {
      console.log(`state replicas: nats-server ${version} keeps replicated compare-and-set exact; nothing to refuse`);
      return;
    }
    const namespace = uniqueName('sr').replace('-', '_');
    const t = topology(namespace);
    await using nc = await natsClient(cluster.url);
    // As an earlier flants made it, with FLANTS_STREAM_REPLICAS=3.
    await new Kvm(nc).create(t.kv.classes, { history: 1, replicas: 3 });
    const env = { NATS_URL: cluster.url, FLANTS_NAMESPACE: namespace, FLANTS_SOURCE: 'http://127.0.0.1:1/vod/', FLANTS_DEST: 's3://dest-bucket/', FLANTS_STREAM_REPLICAS: '3' };
    const config = testConfig(env);
    await expect(startDaemon({ config, logger: testLogger(), actors: ['aggregator'] })).rejects.toThrow(
      new RegExp(`the KV bucket ${t.kv.classes} has 3 replicas.*Run \`flants setup\` with FLANTS_STATE_REPLICAS=1`),
    );
    const setup = await promisify(execFile)(process.execPath, ['dist/cli.js', 'setup'], { env: { ...process.env, ...env, LOG_LEVEL: 'warn' } });
    expect(setup.stdout).toContain(`KV ${t.kv.classes}: 3 → 1 replicas`);
    expect(await bucketReplicas(await jetstreamManager(nc), t.kv.classes)).toBe(1);
    const daemon = await startDaemon({ config, logger: testLogger(), actors: ['aggregator'] });
    await daemon.stop();
  }, 60_000);
});
