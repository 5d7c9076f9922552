/** A one-off reading of every class and queue, for `flants status` (no dashboard needed). */
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { auditsBucket } from '../audit/run-audit.js';
import { formatFleet, readFleet, type FleetMember } from '../observability/fleet-presence.js';
import { stages, type Topology } from '../streams/topology.js';
import type { ClassStateJson } from '../tracking/class-progress.js';
import { keysUnder } from '../tracking/kv-keys.js';
import { classRunsPrefix } from '../tracking/run-keys.js';
import { classView, type ClassView } from './class-view.js';

/** Classes, queues and audits as they stand. */
export interface Snapshot {
  readonly classes: ClassView[];
  readonly queues: Record<string, { pending: number; unacked: number }>;
  readonly audits: Array<{ auditId: string; classes: number; done: number; drift: number; finishedAt?: string }>;
  /** Every running flants process, from the fleet's presence records. */
  readonly fleet: FleetMember[];
  /** Why the fleet could not be read, when it could not. */
  readonly fleetError?: string;
}

/** What to read: every class, or only the runs of these. */
export interface SnapshotScope {
  readonly classIds?: readonly string[];
}

/**
 * Reads the class-state KV bucket and each stage's consumer. Keys are listed
 * from the bucket stream's subject index (tracking/kv-keys.ts), not with
 * `kv.keys()`: that creates an ordered consumer per call, which outlived every
 * `flants status` and every demo tick. With `classIds`, only those classes'
 * keys are listed and read, however many classes the bucket holds.
 */
export async function readSnapshot(nc: NatsConnection, t: Topology, namespace: string, scope: SnapshotScope = {}): Promise<Snapshot> {
  const kvm = new Kvm(nc);
  const jsm = await jetstreamManager(nc);
  // Binds to a bucket only if it exists (Kvm.open does not set a bucket up fully for listing keys).
  const bucket = async (name: string) =>
    (await jsm.streams.info(`KV_${name}`).then(() => true, () => false)) ? kvm.create(name, { history: 1 }) : undefined;
  const classes: ClassView[] = [];
  const kv = await bucket(t.kv.classes);
  if (kv) {
    const prefixes = scope.classIds ? [...new Set(scope.classIds)].map(classRunsPrefix) : ['class.'];
    for (const prefix of prefixes) {
      for (const key of await keysUnder(jsm, t.kv.classes, prefix)) {
        const e = await kv.get(key);
        if (e?.operation === 'PUT' && e.length > 0) classes.push(classView(e.json<ClassStateJson>()));
      }
    }
  }
  classes.sort((a, b) => a.classId.localeCompare(b.classId));
  const queues: Snapshot['queues'] = {};
  for (const [stage, stream, consumer] of stages(t)) {
    const ci = await jsm.consumers.info(stream, consumer).catch(() => undefined);
    if (ci) queues[stage] = { pending: ci.num_pending, unacked: ci.num_ack_pending };
  }
  const audits: Snapshot['audits'] = [];
  const auditsKv = await bucket(auditsBucket(namespace));
  if (auditsKv) {
    for (const key of await keysUnder(jsm, auditsBucket(namespace), 'audit.')) {
      const e = await auditsKv.get(key);
      if (e?.operation === 'PUT' && e.length > 0) audits.push(e.json());
    }
  }
  const fleet = await readFleet(nc, jsm, t).then(
    (members) => ({ fleet: members }),
    (err: unknown) => ({ fleet: [] as FleetMember[], fleetError: `fleet unavailable: ${(err as Error)?.message ?? String(err)}` }),
  );
  return { classes, queues, audits, ...fleet };
}

const bar = (fraction: number, width = 24) => {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
};

/** Formats a snapshot for a terminal: one progress bar per class, then queues and audits. */
export function formatSnapshot(s: Snapshot): string {
  const lines: string[] = [];
  // Class ids are untrusted text: control characters would drive the terminal.
  const safe = (x: string) => x.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  for (const c of s.classes) {
    const total = c.total ?? 0;
    const frac = total ? (c.done + c.failed) / total : 0;
    const eta = c.etaSeconds === null ? '' : c.status === 'transferring' ? ` ETA ${c.etaSeconds}s` : '';
    lines.push(
      `${bar(frac)} ${String(Math.floor(frac * 100)).padStart(3)}% ${c.status.padEnd(12)} ${safe(c.classId)}  ` +
        `${c.done + c.failed}/${c.total ?? '?'} files, ${(c.bytes / 1e6).toFixed(1)} MB, ${(c.rate / 1e6).toFixed(1)} MB/s${eta}` +
        `${c.failed ? `, ${c.failed} failed` : ''}`,
    );
    for (const f of c.failures.filter((x) => x.final).slice(0, 5)) lines.push(`      failed ${safe(f.key)}: ${safe(f.reasons.at(-1) ?? '')}`);
    if (c.reason) lines.push(`      ${safe(c.reason)}`);
  }
  if (s.classes.length === 0) lines.push('no classes yet');
  lines.push('');
  lines.push(`queues: ${Object.entries(s.queues).map(([k, v]) => `${k} ${v.pending} pending / ${v.unacked} in progress`).join(' · ') || 'none'}`);
  for (const a of s.audits) {
    lines.push(`audit ${a.auditId}: ${bar(a.classes ? a.done / a.classes : 1, 12)} ${a.done}/${a.classes} classes, ${a.drift} differences${a.finishedAt ? ', finished' : ''}`);
  }
  lines.push(...(s.fleetError ? [s.fleetError] : formatFleet(s.fleet ?? [])));
  return lines.join('\n');
}
