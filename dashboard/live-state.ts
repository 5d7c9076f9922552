/**
 * What the dashboard and `flants status` show, kept live from NATS alone:
 * every class's state from the aggregator's KV bucket (watched), files in
 * flight from the dispatchers' wave events, queue depth per stage from the
 * consumers, and throughput sampled once a second.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { readFleet, type FleetMember } from '../observability/fleet-presence.js';
import type { WaveEvent } from '../streams/messages.js';
import { stages, type Topology } from '../streams/topology.js';
import { hexBitSet } from '../tracking/bitfield.js';
import type { ClassStateJson } from '../tracking/class-progress.js';
import { classView, type ClassView } from './class-view.js';

/** Pipeline-wide figures. */
export interface Overall {
  readonly classes: number;
  readonly active: number;
  /** Files done over every class's shown run. */
  readonly files: number;
  /** Files failed for good over every class's shown run. */
  readonly failed?: number;
  readonly bytes: number;
  readonly retries: number;
  readonly filesPerSecond: number;
  readonly bytesPerSecond: number;
  readonly activeWaves: number;
  /** Each stage's backlog: pending plus delivered-but-unacked. */
  readonly queues: Record<string, { pending: number; unacked: number }>;
  /** Files/s and bytes/s, one sample a second, newest last (at most 300). */
  readonly history: ReadonlyArray<{ t: number; files: number; bytes: number }>;
  /** Audits, newest first (at most 5): progress while they run, the outcome once done. */
  readonly audits: ReadonlyArray<AuditProgress>;
  /** Every running flants process (the fleet), oldest first. */
  readonly fleet: ReadonlyArray<FleetMember>;
}

/** An audit's progress, as `flants audit` keeps it in KV. */
export interface AuditProgress {
  readonly auditId: string;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly classes: number;
  readonly done: number;
  readonly drift: number;
}

/** A live model of every class. */
export interface LiveState {
  classes(): ClassView[];
  get(classId: string): ClassView | undefined;
  overall(): Overall;
  /** Class ids changed since the last call, plus whether the overall figures changed. */
  takeChanges(): { classes: string[]; overall: boolean };
  close(): Promise<void>;
}

const WAVE_TTL_MS = 15 * 60_000;

/** Starts watching. */
export async function startLiveState(o: {
  nc: NatsConnection;
  kv: KV;
  jsm: JetStreamManager;
  topology: Topology;
  logger: Logger;
  /** The audits' progress bucket, when this user may read it. */
  auditsKv?: KV;
}): Promise<LiveState> {
  const states = new Map<string, ClassStateJson>();
  // class → run → file index → wave id
  const inFlight = new Map<string, Map<number, string>>();
  const waves = new Map<string, { at: number; files: Array<{ c: string; i: readonly number[] }> }>();
  const dirty = new Set<string>();
  let overallDirty = true;
  const queues: Record<string, { pending: number; unacked: number }> = {};
  const history: Array<{ t: number; files: number; bytes: number }> = [];
  let last = { files: 0, bytes: 0, at: Date.now() };
  // Running totals over every class's shown run, kept as states change: the
  // once-a-second sample and the overall figures never walk every class.
  const totals = { files: 0, failed: 0, bytes: 0, retries: 0, active: 0 };
  const isActive = (x: ClassStateJson) => x.status === 'crawling' || x.status === 'transferring';
  // A malformed record counts as zero: one NaN would stick in the totals for good.
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const count = (x: ClassStateJson, sign: 1 | -1) => {
    totals.files += sign * n(x.doneCount);
    totals.failed += sign * n(x.failedCount);
    totals.bytes += sign * n(x.bytes);
    totals.retries += sign * n(x.retries);
    totals.active += sign * (isActive(x) ? 1 : 0);
  };

  const audits = new Map<string, AuditProgress>();
  const auditWatcher = o.auditsKv ? await o.auditsKv.watch({ key: 'audit.>' }) : undefined;
  const watchingAudits = (async () => {
    for await (const e of auditWatcher ?? []) {
      if (e.operation !== 'PUT' || e.length === 0) continue;
      try {
        const a = e.json<AuditProgress>();
        audits.set(a.auditId, a);
        overallDirty = true;
      } catch {
        // An unreadable progress record is skipped; the audit's own report is the record.
      }
    }
  })();
  const watcher = await o.kv.watch({ key: 'class.>' });
  const watching = (async () => {
    for await (const e of watcher) {
      if (e.operation !== 'PUT' || e.length === 0) continue;
      try {
        const s = e.json<ClassStateJson>();
        const prev = states.get(s.classId);
        // Each trigger is a run with its own state: a class shows its newest run.
        if (prev && prev.runId !== s.runId && s.startedAt < prev.startedAt) continue;
        if (prev && prev.runId !== s.runId) inFlight.delete(s.classId);
        if (prev) count(prev, -1);
        count(s, 1);
        states.set(s.classId, s);
        // Files that have an outcome are no longer in flight.
        const flying = inFlight.get(s.classId);
        if (flying) for (const i of [...flying.keys()]) if (hexBitSet(s.done, i) || hexBitSet(s.failed, i)) flying.delete(i);
        dirty.add(s.classId);
        overallDirty = true;
      } catch (err) {
        o.logger.warn({ err, key: e.key }, 'unreadable class state');
      }
    }
  })();

  const sub = o.nc.subscribe(o.topology.subjects.waves, {
    callback: (_err, m) => {
      try {
        const ev = m.json<WaveEvent>();
        if (ev.state === 'start' && ev.files) {
          waves.set(ev.wave, { at: Date.now(), files: ev.files.map((f) => ({ c: f.c, i: f.i })) });
          for (const f of ev.files) {
            const s = states.get(f.c);
            if (s && s.runId !== f.r) continue;
            const map = inFlight.get(f.c) ?? new Map<number, string>();
            for (const i of f.i) map.set(i, ev.wave);
            inFlight.set(f.c, map);
            dirty.add(f.c);
          }
        } else if (ev.state === 'end') {
          const w = waves.get(ev.wave);
          waves.delete(ev.wave);
          for (const f of w?.files ?? []) {
            const map = inFlight.get(f.c);
            for (const i of f.i) if (map?.get(i) === ev.wave) map.delete(i);
            dirty.add(f.c);
          }
        }
        overallDirty = true;
      } catch {
        // A malformed live event is dropped; live views are best effort.
      }
    },
  });

  const sample = setInterval(() => {
    const now = Date.now();
    for (const [id, w] of waves) if (now - w.at > WAVE_TTL_MS) waves.delete(id); // a dispatcher that died mid-wave
    const { files, bytes } = totals;
    const secs = Math.max(0.001, (now - last.at) / 1000);
    history.push({ t: now, files: Math.max(0, (files - last.files) / secs), bytes: Math.max(0, (bytes - last.bytes) / secs) });
    if (history.length > 300) history.shift();
    last = { files, bytes, at: now };
    overallDirty = true;
  }, 1_000);

  const pollQueues = async () => {
    for (const [stage, stream, consumer] of stages(o.topology)) {
      const ci = await o.jsm.consumers.info(stream, consumer).catch(() => undefined);
      if (ci) queues[stage] = { pending: ci.num_pending, unacked: ci.num_ack_pending };
    }
    overallDirty = true;
  };
  await pollQueues();
  const queueTimer = setInterval(() => void pollQueues(), 2_000);
  // The fleet's records change every few seconds; reading them costs one request per process.
  let fleet: FleetMember[] = [];
  let pollingFleet = false; // never two readings at once
  const pollFleet = async () => {
    if (pollingFleet) return;
    pollingFleet = true;
    try {
      fleet = await readFleet(o.nc, o.jsm, o.topology, 0);
      overallDirty = true;
    } catch (err) {
      o.logger.debug({ err }, 'fleet not read; showing the last reading');
    } finally {
      pollingFleet = false;
    }
  };
  await pollFleet();
  const fleetTimer = setInterval(() => void pollFleet(), 5_000);

  const view = (id: string) => {
    const s = states.get(id);
    return s ? classView(s, new Set(inFlight.get(id)?.keys() ?? [])) : undefined;
  };

  return {
    classes: () => [...states.keys()].sort().map((id) => view(id) as ClassView),
    get: view,
    overall: () => {
      const recent = history.slice(-5);
      const avg = (f: (h: (typeof history)[number]) => number) => (recent.length ? recent.reduce((n, h) => n + f(h), 0) / recent.length : 0);
      return {
        classes: states.size,
        active: totals.active,
        files: totals.files,
        failed: totals.failed,
        bytes: totals.bytes,
        retries: totals.retries,
        filesPerSecond: Math.round(avg((h) => h.files)),
        bytesPerSecond: Math.round(avg((h) => h.bytes)),
        activeWaves: waves.size,
        queues: { ...queues },
        history: [...history],
        audits: [...audits.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt)).slice(0, 5),
        fleet,
      };
    },
    takeChanges: () => {
      const out = { classes: [...dirty], overall: overallDirty };
      dirty.clear();
      overallDirty = false;
      return out;
    },
    close: async () => {
      clearInterval(sample);
      clearInterval(queueTimer);
      clearInterval(fleetTimer);
      sub.unsubscribe();
      watcher.stop();
      auditWatcher?.stop();
      await watching.catch(() => undefined);
      await watchingAudits.catch(() => undefined);
    },
  };
}

