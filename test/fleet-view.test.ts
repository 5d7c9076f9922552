/**
 * The fleet view reads records any process on the account may write: a record
 * it cannot read is left out, and the rest of the fleet is still shown.
 */
import { connect as tcpConnect } from 'node:net';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
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

/** Publishes with a raw HPUB, as a hostile client can: the server stores header names the NATS clients refuse to parse. */
async function rawPublish(port: number, subject: string, header: string, payload: string): Promise<void> {
  const h = Buffer.from(`NATS/1.0\r\n${header}\r\n\r\n`, 'utf8');
  const p = Buffer.from(payload, 'utf8');
  await new Promise<void>((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1');
    let got = '';
    let sent = false;
    s.on('data', (d: Buffer) => {
      got += d.toString('utf8');
      if (!sent && got.includes('INFO')) {
        sent = true;
        s.write('CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}\r\n');
        s.write(`HPUB ${subject} ${h.length} ${h.length + p.length}\r\n`);
        s.write(Buffer.concat([h, p, Buffer.from('\r\nPING\r\n')]));
      }
      if (got.includes('-ERR')) reject(new Error(got));
      if (got.includes('PONG')) s.end(() => resolve());
    });
    s.on('error', reject);
  });
}

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
