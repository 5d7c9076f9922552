/**
 * The fleet view on a replicated presence bucket: after the bucket's leader is
 * SIGKILLed and every node restarted, reads through each node show each
 * process's latest record. readFleet reads records from the stream's leader:
 * a direct get may be answered by any replica, and nats-server 2.9/2.10 have
 * served stale KV values from a restarted replica (nats-server#4162, #4351,
 * #4710). CI saw a fleet view frozen at the moment a node was killed; this run
 * did not reproduce it on 2.9.10 with direct gets either (0 stale of 45 reads),
 * so it guards the path rather than proving the cause.
 */
import { Kvm } from '@nats-io/kv';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { startNatsCluster } from '../dev/local/nats-cluster.js';
import { openFleetKv } from '../streams/ensure-topology.js';
import { readFleet, type FleetMember } from '../observability/fleet-presence.js';
import { topology } from '../streams/topology.js';
import { natsClient, uniqueName } from './helpers/services.js';

const member = (id: string, acked: number): FleetMember => ({
  id,
  host: 'h',
  pid: 1,
  startedAt: '2026-11-27T00:00:00.000Z',
  seenAt: new Date().toISOString(),
  rssMb: 1,
  cpuPercent: 0,
  actors: { dispatcher: { acked, failed: 0, retried: 0, held: 0, ackedPerSecond: 0 } },
});

describe('fleet view - a replicated presence bucket', () => {
  it('fleet view - after a leader kill and a rolling restart, every read through every node shows the latest records', async () => {
    await using cluster = await startNatsCluster();
    const t = topology(uniqueName('fv').replace('-', '_'));
    await using writer = await natsClient(cluster.url);
    const kv = await openFleetKv(writer, t, 3);
    await kv.put('member.a', JSON.stringify(member('a', 0)));
    const leader = await cluster.leaderOf(`KV_${t.kv.fleet}`);
    if (!leader) throw new Error('no leader');
    let n = 0;
    const putSome = async () => {
      for (let i = 0; i < 10; i++) {
        n += 100;
        for (;;) {
          try {
            await kv.put('member.a', JSON.stringify(member('a', n)));
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      }
    };
    await cluster.kill(leader, true);
    await putSome();
    await cluster.start(leader);
    await cluster.ready();
    for (const node of cluster.nodes) {
      await cluster.kill(node.name);
      await putSome();
      await cluster.start(node.name);
      await cluster.ready();
    }
    // Reads through each node: the restarted one would answer a direct get from its own store.
    const seen: number[] = [];
    for (const node of cluster.nodes) {
      await using nc = await natsClient(node.url);
      const jsm = await jetstreamManager(nc);
      for (let i = 0; i < 15; i++) {
        const fleet = await readFleet(nc, jsm, t);
        seen.push(fleet[0]?.actors.dispatcher?.acked ?? -1);
      }
    }
    console.log(`fleet view: acked as read through ${cluster.nodes.map((n) => n.name).join('/')}: ${[...new Set(seen)].join(', ')} (${seen.length} reads)`);
    expect(seen.every((n) => n === 4_000)).toBe(true);
    // The bucket stays a plain KV bucket: readers other than flants see the same.
    expect((await (await new Kvm(writer).open(t.kv.fleet)).get('member.a'))?.json<FleetMember>().id).toBe('a');
  }, 120_000);
});
