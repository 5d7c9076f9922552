/**
 * The fleet: every flants process renews a presence record in a KV bucket
 * every few seconds (its actors, the NATS node it talks to, memory, CPU and
 * what each actor has settled), and `flants status` and the dashboard list
 * them all. The bucket's TTL drops a crashed process within FLEET_TTL_MS, so
 * the view is the fleet now, kept by NATS rather than by any one process.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { isPermissionRefusal } from '../streams/lane-events.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { RuntimeStats } from '../streams/actor-runtime.js';
import { openFleetKv } from '../streams/ensure-topology.js';
import type { Topology } from '../streams/topology.js';
import { isTransientNatsError } from '../streams/transient-error.js';

/** One actor's counts in a process. */
export interface FleetActor {
  readonly acked: number;
  readonly failed: number;
  readonly retried: number;
  /** Messages it holds right now. */
  readonly held: number;
  /** Messages acknowledged per second over the last renewal interval. */
  readonly ackedPerSecond: number;
}

/** One running flants process as it last described itself. */
export interface FleetMember {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  /** The NATS node it is connected to (server_name), when known. */
  readonly natsServer?: string;
  readonly startedAt: string;
  readonly seenAt: string;
  readonly rssMb: number;
  readonly cpuPercent: number;
  readonly actors: Readonly<Record<string, FleetActor>>;
}

/** How often a process renews its record: well inside the bucket's TTL. */
export const FLEET_RENEW_MS = 5_000;

const keyOf = (id: string) => `member.${id}`;

/** Failed renewals in a row before a warning: one or two are a reconnect or an election. */
const WARN_AFTER_FAILURES = 3;

/** Starts renewing this process's record; `stop` removes it. Failures are logged, never fatal: the fleet view is an aid. */
export async function startFleetPresence(o: {
  nc: NatsConnection;
  topology: Topology;
  replicas: number;
  actors: ReadonlyMap<string, { readonly stats: RuntimeStats }>;
  logger: Logger;
  everyMs?: number;
}): Promise<{ readonly id: string; stop(): Promise<void> }> {
  const id = `${hostname().replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40)}_${process.pid}_${randomBytes(2).toString('hex')}`;
  let kv = await openFleetKv(o.nc, o.topology, o.replicas).catch((err: unknown) => {
    o.logger.warn({ err }, 'fleet presence unavailable (no access to its KV bucket?); this process will not show in the fleet view');
    return undefined;
  });
  const startedAt = new Date().toISOString();
  let lastCpu = process.cpuUsage();
  let lastAt = Date.now();
  // Rates start from the first record: what was settled before it is not a rate.
  let lastAcked: Map<string, number> | undefined;
  const record = (): FleetMember => {
    const now = Date.now();
    const secs = Math.max(1, (now - lastAt) / 1000);
    const cpu = process.cpuUsage(lastCpu);
    lastCpu = process.cpuUsage();
    const actors: Record<string, FleetActor> = {};
    const acked = new Map<string, number>();
    for (const [name, a] of o.actors) {
      acked.set(name, a.stats.acked);
      actors[name] = {
        acked: a.stats.acked,
        failed: a.stats.failed,
        retried: a.stats.retried,
        held: a.stats.held,
        ackedPerSecond: lastAcked ? Math.round((a.stats.acked - (lastAcked.get(name) ?? 0)) / secs) : 0,
      };
    }
    lastAcked = acked;
    lastAt = now;
    return {
      id,
      host: hostname(),
      pid: process.pid,
      natsServer: o.nc.info?.server_name,
      startedAt,
      seenAt: new Date(now).toISOString(),
      rssMb: Math.round(process.memoryUsage.rss() / 2 ** 20),
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / (secs * 1000)) * 100),
      actors,
    };
  };
  let failures = 0;
  let everRenewed = false;
  const renew = async () => {
    try {
      await kv?.put(keyOf(id), JSON.stringify(record()));
      if (everRenewed && failures >= WARN_AFTER_FAILURES) o.logger.warn('fleet presence renewed again');
      failures = 0;
      everRenewed = true;
    } catch (err) {
      // A reconnect or a leader election: the next renewal tries again. A record
      // never written (no bucket, no permission) is worth a warning, once; so is
      // one not renewed for long enough that the view shows stale counts, then drops this process.
      failures++;
      // A bucket the cluster no longer knows is made again: it holds only presence. Seen on a 3-node 2.9.10 cluster
      // after a rolling restart: "stream not found" to every reader for as long as anyone looked (35 s and more).
      // Making an existing bucket again changes nothing.
      if (kv && failures % 3 === 2) kv = (await openFleetKv(o.nc, o.topology, o.replicas).catch(() => undefined)) ?? kv;
      if (!everRenewed && failures === 1) {
        o.logger.warn({ err }, 'fleet presence not written (run `flants setup`, or grant $KV.<namespace>flants_fleet.>); this process will not show in the fleet view');
      } else if (everRenewed && failures === 1) {
        o.logger.debug({ err }, 'fleet presence not renewed; trying again');
      } else if (everRenewed && failures === WARN_AFTER_FAILURES) {
        o.logger.warn({ err, failures }, 'fleet presence not renewed for a while: the fleet view shows this process as it was, and drops it after the TTL');
      }
    }
  };
  await renew();
  const timer = setInterval(() => void renew(), o.everyMs ?? FLEET_RENEW_MS);
  timer.unref();
  return {
    id,
    stop: async () => {
      clearInterval(timer);
      await kv?.delete(keyOf(id)).catch(() => undefined);
    },
  };
}

const count = z.number().int().nonnegative().finite();
const text = (max: number) => z.string().max(max);
/** What a presence record must look like: any process on the account can write one, so it is checked, not trusted. */
const fleetMemberSchema = z.object({
  id: text(120),
  host: text(255),
  pid: count,
  natsServer: text(120).optional(),
  startedAt: text(40),
  seenAt: text(40),
  rssMb: count,
  cpuPercent: count,
  // A process runs some of the actors: partial (a plain enum-keyed record wants all four).
  actors: z.partialRecord(
    z.enum(['scanner', 'crawler', 'dispatcher', 'aggregator']),
    z.object({ acked: count, failed: count, retried: count, held: count, ackedPerSecond: count }),
  ),
});

/** At most this many records are read: a fleet larger than this is not a fleet view any more. */
export const MAX_FLEET_RECORDS = 500;
/** A record larger than this is not one flants wrote. */
const MAX_RECORD_BYTES = 4_096;

/**
 * Every live member, oldest first. Reads the bucket's keys from the stream's
 * subject index and each record by a get the stream's leader answers (a
 * bucket opened by name does not use direct gets), so that no consumer is made.
 */
export async function readFleet(nc: NatsConnection, jsm: JetStreamManager, t: Topology, retryMs = 10_000): Promise<FleetMember[]> {
  const stream = `KV_${t.kv.fleet}`;
  let info: Awaited<ReturnType<JetStreamManager['streams']['info']>> | undefined;
  // While a cluster elects a leader for the bucket, it cannot answer: that is not an empty fleet.
  for (const until = Date.now() + retryMs; !info; await new Promise((r) => setTimeout(r, 250))) {
    try {
      info = await jsm.streams.info(stream, { subjects_filter: `$KV.${t.kv.fleet}.member.>` });
    } catch (err) {
      if (/stream not found/i.test(String((err as Error)?.message))) return [];
      if (!isTransientNatsError(err) || Date.now() > until) throw err;
    }
  }
  const kv: KV = await new Kvm(nc).open(t.kv.fleet);
  const members: FleetMember[] = [];
  // The bucket's TTL drops a dead process's record: no clock of ours decides who is alive.
  for (const subject of Object.keys(info.state.subjects ?? {}).slice(0, MAX_FLEET_RECORDS)) {
    const e = await kv.get(subject.slice(`$KV.${t.kv.fleet}.`.length)).catch((err: unknown) => {
      // A user who may list the bucket but not read it would see an empty fleet: say why instead.
      // The client wraps the server's refusal in a RequestError.
      if (isPermissionRefusal(err)) throw err;
      return null;
    });
    try {
      // Headers are parsed on first use, and a hostile writer's header name makes that throw: inside the guard.
      if (e?.operation !== 'PUT' || e.length === 0 || e.length > MAX_RECORD_BYTES) continue;
      const m = fleetMemberSchema.safeParse(e.json());
      // An unreadable record is left out; it expires with the TTL.
      if (m.success) members.push(m.data);
    } catch {
      // Not JSON, or headers no client can parse: left out likewise.
    }
  }
  return members.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

// Records come from any process on the account: control characters would drive the terminal.
const safe = (x: unknown) => String(x).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');

/** The fleet as terminal lines: one per process. */
export function formatFleet(members: readonly FleetMember[]): string[] {
  if (members.length === 0) return ['fleet: no flants process is running'];
  const lines = [`fleet: ${members.length} process${members.length === 1 ? '' : 'es'}`];
  for (const m of members) {
    const actors = Object.entries(m.actors)
      .map(([name, a]) => `${safe(name)} ${a.acked} done${a.ackedPerSecond ? ` (${a.ackedPerSecond}/s)` : ''}${a.held ? `, ${a.held} held` : ''}${a.failed ? `, ${a.failed} failed` : ''}`)
      .join(' · ');
    lines.push(`  ${safe(m.host)} pid ${safe(m.pid)}${m.natsServer ? ` on ${safe(m.natsServer)}` : ''}: ${safe(m.rssMb)} MB, ${safe(m.cpuPercent)}% CPU, up since ${safe(m.startedAt)}; ${actors || 'no actors'}`);
  }
  return lines;
}
