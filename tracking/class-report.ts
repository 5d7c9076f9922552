/**
 * The per-class transfer report (written to the destination) and the
 * `class.transferred` event, both built from a finished ClassProgress.
 */
import type { ClassTransferred } from '../streams/messages.js';
import type { ClassProgress } from './class-progress.js';

/** At most this many failed files are listed in the event; the report lists all. */
const EVENT_FAILED_LIMIT = 100;

/** The destination key of a class run's report. Class ids are untrusted, so they are encoded. */
export function reportKeyFor(destPrefix: string, reportPrefix: string, classId: string, runId: string): string {
  return `${destPrefix}${reportPrefix}${encodeURIComponent(classId)}/${runId}.json`;
}

/** The JSON report for a finished class run. */
export function buildReport(p: ClassProgress, context: { source: string; dest: string }) {
  const ms = p.finishedAt ? Date.parse(p.finishedAt) - Date.parse(p.startedAt) : 0;
  return {
    classId: p.classId,
    runId: p.runId,
    status: p.status,
    reason: p.reason,
    source: context.source,
    destination: context.dest,
    files: p.total ?? 0,
    succeeded: p.doneCount,
    failedCount: p.failedCount,
    playlists: p.playlists,
    bytes: p.bytes,
    unchanged: p.unchanged,
    retries: p.retries,
    startedAt: p.startedAt,
    finishedAt: p.finishedAt,
    seconds: ms / 1000,
    failed: p.failedFiles(),
    refused: p.refused,
    skipped: p.skipped,
    live: p.live,
    notes: p.notes,
  };
}

/** The outcome event for a finished class run. */
export function buildTransferredEvent(p: ClassProgress, reportKey: string): ClassTransferred {
  return {
    classId: p.classId,
    runId: p.runId,
    status: p.status === 'complete' || p.status === 'incomplete' ? p.status : 'failed',
    files: p.total ?? 0,
    bytes: p.bytes,
    unchanged: p.unchanged,
    verified: p.status === 'complete' && p.total !== null && p.total > 0 && p.unchanged === p.total,
    retries: p.retries,
    failed: p.failedFiles().slice(0, EVENT_FAILED_LIMIT).map(({ key, reasons }) => ({ key, reasons })),
    reason: p.reason,
    startedAt: p.startedAt,
    finishedAt: p.finishedAt ?? new Date().toISOString(),
    reportKey,
  };
}
