/**
 * The view of one class that the dashboard, its JSON API and `flants status`
 * show: counts, rate, ETA, failures, and the bit fields as hex strings.
 */
import { MAX_FILE_GROUPS, type FileGroup } from '../streams/messages.js';
import { hexBitSet } from '../tracking/bitfield.js';
import type { ClassStateJson } from '../tracking/class-progress.js';

/** One class as the views show it. */
export interface ClassView {
  readonly classId: string;
  readonly runId: string;
  readonly status: string;
  readonly total: number | null;
  /** The files grouped by the playlist (rendition) that brought them in; absent when the crawler sent none. */
  readonly groups?: readonly FileGroup[];
  readonly done: number;
  readonly failed: number;
  readonly inFlight: number;
  readonly bytes: number;
  readonly retries: number;
  /** Bytes per second since the run started (finished runs: over their whole duration). */
  readonly rate: number;
  /** Seconds left at the current rate of files, or null when unknown. */
  readonly etaSeconds: number | null;
  readonly startedAt: string;
  readonly finishedAt?: string;
  readonly reason?: string;
  /** References found but not copied: refused (outside the source) and skipped (e.g. DRM key URIs). */
  readonly refused: number;
  readonly skipped: number;
  /** True once the run's report is written to the destination. */
  readonly reported: boolean;
  /** A sample of files with failed attempts; `i` is the file's index (its bit). */
  readonly failures: ReadonlyArray<{ i: number; key: string; reasons: string[]; final: boolean }>;
  /** Hex bit fields, bit i = file i: low bit of the first byte first. */
  readonly doneHex: string;
  readonly failedHex: string;
  readonly inFlightHex: string;
}

function hexOf(bits: ReadonlySet<number>): string {
  if (bits.size === 0) return '';
  const max = Math.max(...bits);
  const bytes = new Uint8Array((max >> 3) + 1);
  for (const b of bits) bytes[b >> 3] = (bytes[b >> 3] ?? 0) | (1 << (b & 7));
  return Buffer.from(bytes).toString('hex');
}

/**
 * The state's groups if they make sense for `total`: in order, tiling the
 * class exactly (a gap would hide its files from the grid). The state bucket is writable by more than flants, and a page
 * should never loop over a billion-file group.
 */
function groupsOf(s: ClassStateJson): readonly FileGroup[] | undefined {
  const g = s.groups;
  if (!Array.isArray(g) || g.length === 0 || g.length > MAX_FILE_GROUPS || s.total === null) return undefined;
  let end = 0;
  for (const x of g) {
    const ok = typeof x?.name === 'string' && Number.isInteger(x.from) && Number.isInteger(x.count) && x.from === end && x.count > 0;
    if (!ok || x.from + x.count > s.total) return undefined;
    end = x.from + x.count;
  }
  if (end !== s.total) return undefined;
  return g.map((x) => ({ name: x.name.slice(0, 200), from: x.from, count: x.count }));
}

/** Builds the view of `s`; `inFlight` holds the file indexes of waves under way. */
export function classView(s: ClassStateJson, inFlight: ReadonlySet<number> = new Set(), now = Date.now()): ClassView {
  const finished = s.status === 'complete' || s.status === 'failed' || s.status === 'incomplete';
  const end = finished && s.finishedAt ? Date.parse(s.finishedAt) : now;
  const seconds = Math.max(0.001, (end - Date.parse(s.startedAt)) / 1000);
  const accounted = s.doneCount + s.failedCount;
  const left = s.total === null ? null : Math.max(0, s.total - accounted);
  const filesPerSecond = accounted / seconds;
  return {
    classId: s.classId,
    runId: s.runId,
    status: s.status,
    total: s.total,
    groups: groupsOf(s),
    done: s.doneCount,
    failed: s.failedCount,
    inFlight: finished ? 0 : inFlight.size,
    bytes: s.bytes,
    retries: s.retries,
    rate: Math.round(s.bytes / seconds),
    etaSeconds: finished ? 0 : left === null || filesPerSecond === 0 ? null : Math.round(left / filesPerSecond),
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    reason: s.reason,
    refused: s.refusedCount ?? s.refused?.length ?? 0,
    skipped: s.skippedCount ?? s.skipped?.length ?? 0,
    reported: !!s.reportKey,
    failures: Object.entries(s.failures).map(([i, f]) => ({ i: Number(i), key: f.key, reasons: f.reasons, final: hexBitSet(s.failed, Number(i)) })),
    doneHex: s.done,
    failedHex: s.failed,
    inFlightHex: finished ? '' : hexOf(inFlight),
  };
}

