/**
 * `flants audit`: replays the trigger history, audits every class it names,
 * writes a JSON report under the destination's report prefix, prints a
 * summary, and with `repair` re-queues missing or differing files through the
 * normal pipeline as a repair run of their class. Repair never deletes: an
 * object no playlist of a class references may belong to another class (entry
 * playlists often share a folder), so extra objects are reported and left in
 * place, for an operator to remove.
 */
import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { FlantsConfig } from '../config/load-config.js';
import type { SourceReader } from '../storage/source-reader.js';
import type { SourceRoot } from '../storage/source-root.js';
import { manifestFor } from '../actors/scanner.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { auditClass, type ClassAudit } from './audit-class.js';
import { replayTriggers, type ReplayFrom } from './replay-triggers.js';

/** The KV bucket where audits keep their progress, for `flants status` and the dashboard. */
export function auditsBucket(namespace: string): string {
  return `${namespace ? `${namespace}_` : ''}flants_audits`;
}

/** What to audit. */
export interface AuditOptions extends ReplayFrom {
  readonly classes?: readonly string[];
  readonly deep: boolean;
  readonly repair: boolean;
  /** How long to wait for repair runs to be reported. */
  readonly repairTimeoutMs?: number;
}

/** The audit's JSON report. */
export interface AuditReport {
  readonly auditId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly from: { since?: string; fromSeq?: number };
  readonly deep: boolean;
  readonly classes: ClassAudit[];
  readonly totals: { classes: number; files: number; bytes: number; drift: number; unverified: number; errors: number; filesPerSecond: number };
  /** `extras`: extra objects found, reported and left in place (repair never deletes). */
  readonly repair?: { extras: number; requeued: number; runs: Array<{ classId: string; status: string; files: number }> };
  readonly reportKey: string;
}

/** What the audit needs. */
export interface RunAuditDeps {
  readonly config: FlantsConfig;
  readonly nc: NatsConnection;
  readonly reader: SourceReader;
  readonly root: SourceRoot;
  readonly dest: S3Client;
  readonly lambda?: LambdaClient;
  readonly logger: Logger;
}

/** Runs the audit; returns the report (also written to the destination). */
export async function runAudit(deps: RunAuditDeps, o: AuditOptions): Promise<AuditReport> {
  const { config } = deps;
  const t = topology(config.namespace);
  const js = jetstream(deps.nc);
  const jsm = await jetstreamManager(deps.nc);
  const auditId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const startedAt = new Date();
  const replayed = await replayTriggers(js, jsm, t, o);
  const wanted = o.classes?.length ? new Set(o.classes) : undefined;
  const targets = replayed.classes.filter((c) => !wanted || wanted.has(c.classId));
  const entryOf = (c: (typeof replayed.classes)[number]) => c.manifest ?? manifestFor(config.manifestTemplate, c.classId);
  // Every class the history names, audited or not, tells which folders are shared.
  const entries = replayed.classes.map((c) => ({ classId: c.classId, manifest: entryOf(c) }));
  // Progress lives in KV so that `flants status` and the dashboard can show a running audit.
  const progressKv = await new Kvm(deps.nc).create(auditsBucket(config.namespace), { history: 1, replicas: config.streamReplicas });
  const progress = (done: number, drift: number) =>
    progressKv
      .put(`audit.${auditId}`, JSON.stringify({ auditId, startedAt: startedAt.toISOString(), classes: targets.length, done, drift, deep: o.deep }))
      .catch(() => undefined);
  await progress(0, 0);

  const results: ClassAudit[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(4, targets.length) }, async () => {
      for (let i = next++; i < targets.length; i = next++) {
        const c = targets[i] as (typeof targets)[number];
        const otherEntries = entries.filter((e) => e.classId !== c.classId).map((e) => e.manifest);
        results.push(await auditClass(deps, c.classId, entryOf(c), { deep: o.deep, otherEntries }));
        await progress(results.length, results.reduce((n, r) => n + r.drift.length, 0));
      }
    }),
  );
  results.sort((a, b) => a.classId.localeCompare(b.classId));

  let repair: AuditReport['repair'];
  if (o.repair) repair = await repairDrift(deps, results, o.repairTimeoutMs ?? 10 * 60_000);

  const finishedAt = new Date();
  const files = results.reduce((n, r) => n + r.files, 0);
  const seconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  const reportKey = `${config.dest.prefix}${config.reportPrefix}audits/${auditId}.json`;
  const report: AuditReport = {
    auditId,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    from: { since: o.since?.toISOString(), fromSeq: o.fromSeq },
    deep: o.deep,
    classes: results,
    totals: {
      classes: results.length,
      files,
      bytes: results.reduce((n, r) => n + r.bytes, 0),
      drift: results.reduce((n, r) => n + r.drift.length, 0),
      unverified: results.reduce((n, r) => n + r.unverified, 0),
      errors: results.filter((r) => r.error).length,
      filesPerSecond: seconds > 0 ? Math.round(files / seconds) : files,
    },
    repair,
    reportKey,
  };
  await deps.dest.send(
    new PutObjectCommand({ Bucket: config.dest.bucket, Key: reportKey, Body: JSON.stringify(report, null, 2), ContentType: 'application/json' }),
  );
  await progressKv.put(`audit.${auditId}`, JSON.stringify({ auditId, startedAt: report.startedAt, finishedAt: report.finishedAt, classes: results.length, done: results.length, drift: report.totals.drift, deep: o.deep })).catch(() => undefined);
  return report;
}

/** Re-queues drifted files as repair runs and waits for their outcomes. Deletes nothing. */
async function repairDrift(deps: RunAuditDeps, results: ClassAudit[], timeoutMs: number): Promise<NonNullable<AuditReport['repair']>> {
  const { config } = deps;
  const t = topology(config.namespace);
  const extras = results.reduce((n, r) => n + r.drift.filter((d) => d.problem === 'extra').length, 0);
  const work = results
    .map((r) => ({ r, files: r.drift.filter((d) => d.problem === 'missing' || d.problem === 'size' || d.problem === 'checksum').map((d) => d.path) }))
    .filter((w) => w.files.length > 0);
  const sub = deps.nc.subscribe(t.subjects.transferred);
  const runs: Array<{ classId: string; status: string; files: number }> = [];
  const waiting = new Set(work.map((w) => w.r.classId));
  const js = jetstream(deps.nc);
  for (const w of work) {
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: w.r.classId, manifest: w.r.manifest, files: w.files }));
    deps.logger.info({ classId: w.r.classId, files: w.files.length }, 'repair run queued');
  }
  const timer = setTimeout(() => sub.unsubscribe(), timeoutMs);
  if (waiting.size === 0) sub.unsubscribe();
  for await (const m of sub) {
    const e = m.json<ClassTransferred>();
    if (!waiting.delete(e.classId)) continue;
    runs.push({ classId: e.classId, status: e.status, files: e.files });
    if (waiting.size === 0) break;
  }
  clearTimeout(timer);
  for (const classId of waiting) runs.push({ classId, status: 'not reported in time', files: 0 });
  return { extras, requeued: work.reduce((n, w) => n + w.files.length, 0), runs };
}

/** A human summary, as `rclone check` prints one. */
export function formatAudit(report: AuditReport): string {
  const lines: string[] = [];
  for (const c of report.classes) {
    const state = c.error ? `ERROR ${c.error}` : c.drift.length ? `DRIFT ${c.drift.length}` : 'OK';
    lines.push(`${state.padEnd(10)} ${c.classId}  ${c.files} files${c.unverified ? `, ${c.unverified} unverified (use --deep)` : ''}`);
    if (c.extrasNotChecked) lines.push(`           extra objects not checked: ${c.extrasNotChecked}`);
    for (const d of c.drift.slice(0, 50)) lines.push(`           ${d.problem.padEnd(14)} ${d.path}  ${d.detail}`);
    if (c.drift.length > 50) lines.push(`           … ${c.drift.length - 50} more in the report`);
  }
  const t = report.totals;
  lines.push('');
  lines.push(`${t.classes} classes, ${t.files} files, ${(t.bytes / 1e6).toFixed(1)} MB audited${report.deep ? ' (deep)' : ''} at ${t.filesPerSecond} files/s: ` +
    `${t.drift} differences, ${t.unverified} unverified, ${t.errors} errors`);
  if (report.repair) {
    lines.push(`repair: ${report.repair.requeued} files re-queued, ${report.repair.extras} extra objects left in place (repair never deletes); ` +
      report.repair.runs.map((r) => `${r.classId} ${r.status}`).join(', '));
  }
  lines.push(`report: ${report.reportKey}`);
  return lines.join('\n');
}
