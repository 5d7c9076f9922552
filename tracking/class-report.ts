/**
 * The per-class transfer report (written to the destination) and the
 * `class.transferred` event, both built from a finished ClassProgress.
 */
import type { ClassTransferred } from '../streams/messages.js';
import type { ClassProgress } from './class-progress.js';
import type { RunDetails } from './run-details.js';

/** At most this many failed files are listed in the event; the report lists all. */
const EVENT_FAILED_LIMIT = 100;

/** The destination key of a class run's report. Class ids are untrusted, so they are encoded. */
export function reportKeyFor(destPrefix: string, reportPrefix: string, classId: string, runId: string): string {
  return `${destPrefix}${reportPrefix}${encodeURIComponent(classId)}/${runId}.json`;
}

/** Failed files with every attempt's reason: from the run's records, else the state's sample. */
function failedFiles(p: ClassProgress, d?: RunDetails): Array<{ i: number; key: string; reasons: string[] }> {
  // Purged already (a second report of the same run): the state's sample is all there is.
  if (!d || d.failures.size === 0) return p.failedFiles();
  return [...d.failures].filter(([i]) => p.failed.get(i)).sort((a, b) => a[0] - b[0]).map(([i, f]) => ({ i, key: f.key, reasons: f.reasons }));
}

/** The JSON report for a finished class run; `details` are its full lists (tracking/run-details.ts). */
export function buildReport(p: ClassProgress, context: { source: string; dest: string }, details?: RunDetails) {
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
    verifiedBytes: p.verifiedBytes,
    unchanged: p.unchanged,
    retries: details ? details.retries : p.retries,
    startedAt: p.startedAt,
    finishedAt: p.finishedAt,
    seconds: ms / 1000,
    failed: failedFiles(p, details),
    refusedCount: p.refusedCount,
    refused: details?.refused.length ? details.refused : p.refused,
    skippedCount: p.skippedCount,
    skipped: details?.skipped.length ? details.skipped : p.skipped,
    live: p.live,
    notes: details?.notes.length ? details.notes : p.notes,
  };
}

/** The outcome event for a finished class run. */
export function buildTransferredEvent(p: ClassProgress, reportKey: string, details?: RunDetails): ClassTransferred {
  return {
    classId: p.classId,
    runId: p.runId,
    status: p.status === 'complete' || p.status === 'incomplete' ? p.status : 'failed',
    files: p.total ?? 0,
    bytes: p.bytes,
    verifiedBytes: p.verifiedBytes,
    unchanged: p.unchanged,
    refused: p.refusedCount,
    skipped: p.skippedCount,
    verified: p.status === 'complete' && p.total !== null && p.total > 0 && p.unchanged === p.total,
    retries: details ? details.retries : p.retries,
    failed: failedFiles(p, details)
      .slice(0, EVENT_FAILED_LIMIT)
      .map(({ key, reasons }) => ({ key, reasons: reasons.slice(-3).map((r) => r.slice(0, 200)) })),
    reason: p.reason,
    startedAt: p.startedAt,
    finishedAt: p.finishedAt ?? new Date().toISOString(),
    reportKey,
  };
}
