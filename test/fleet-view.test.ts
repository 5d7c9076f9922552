/**
 * The fleet view reads records any process on the account may write: a record
 * it cannot read is left out, and the rest of the fleet is still shown.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { rawPublish } from './helpers/raw-publish.js';
import { openFleetKv } from '../streams/ensure-topology.js';
import { readFleet, type FleetMember } from '../observability/fleet-presence.js';
import { topology } from '../streams/topology.js';
import { natsClient, startNats, uniqueName } from './helpers/services.js';

const member = (id: string): FleetMember => ({
  id,
  host: 'h',
  pid: 1,
  startedAt: new Date().toISOString(),
  seenAt: new Date().toISOString(),
  rssMb: 1,
  cpuPercent: 0,
  actors: { dispatcher: { acked: 1, failed: 0, retried: 0, held: 0, ackedPerSecond: 0 } },
});

describe('fleet view - records it cannot read', () => {
  it('fleet view - a record with an unparseable header, a deleted one and a non-record are left out; the others are shown', async () => {
    await using nats = await startNats();
    await using nc = await natsClient(nats.url);
    const t = topology(uniqueName('fv').replace('-', '_'));
    const kv = await openFleetKv(nc, t);
    await kv.put('member.good', JSON.stringify(member('good')));
    await kv.put('member.gone', JSON.stringify(member('gone')));
    await kv.delete('member.gone');
    await kv.put('member.junk', 'not json');
    for (const header of ['Bad Key: 1', 'K\u00e9y: 1']) {
      await rawPublish(nats.port, `$KV.${t.kv.fleet}.member.evil${header.length}`, header, JSON.stringify(member(`evil${header.length}`)));
    }
    const jsm = await jetstreamManager(nc);
    const stored = Object.keys((await jsm.streams.info(`KV_${t.kv.fleet}`, { subjects_filter: '>' })).state.subjects ?? {});
    // The hostile records are stored: the view meets them.
    expect(stored.filter((s) => s.includes('evil'))).toHaveLength(2);
    const fleet = await readFleet(nc, jsm, t);
    expect(fleet.map((m) => m.id)).toEqual(['good']);
  });
});
