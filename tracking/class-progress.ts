/**
 * Per-class progress: which files of a run are done or failed, as bit fields,
 * with byte counts and failure reasons. Applying the same result twice changes
 * nothing, which is what makes redelivery and crash recovery count exactly once.
 */
import type { ClassCrawled, ClassFailed, FileResult, Refusal } from '../streams/messages.js';
import { compareRunIds } from '../streams/run-id.js';
import { BitField } from './bitfield.js';

/** Where a class run stands. `complete` and `failed` are final. */
export const ClassStatus = {
  crawling: 'crawling',
  transferring: 'transferring',
  complete: 'complete',
  failed: 'failed',
  /** A live recording reported with what existed when it stopped being crawled. */
  incomplete: 'incomplete',
} as const;
export type ClassStatus = (typeof ClassStatus)[keyof typeof ClassStatus];

/** Reasons kept per failing file; later attempts beyond this are counted, not stored. */
const MAX_REASONS = 10;

/** The persisted form, as stored in JetStream KV. */
export interface ClassStateJson {
  readonly v: 1;
  readonly classId: string;
  readonly runId: string;
  readonly status: ClassStatus;
  readonly total: number | null;
  readonly playlists: number;
  readonly done: string;
  readonly failed: string;
  readonly doneCount: number;
  readonly failedCount: number;
  readonly bytes: number;
  readonly unchanged?: number;
  readonly retries: number;
  readonly failures: Record<string, { key: string; reasons: string[] }>;
  readonly refused: Refusal[];
  readonly skipped: Refusal[];
  readonly live: 'ended' | 'recrawl' | 'incomplete';
  /** Optional files (EXT-X-GAP, preload hints) that were missing, with why. */
  readonly notes: Array<{ key: string; note: string }>;
  readonly reason?: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly finishedAt?: string;
  readonly reported: boolean;
  readonly reportKey?: string;
}

/** Mutable progress of one class run. */
export class ClassProgress {
  status: ClassStatus = ClassStatus.crawling;
  total: number | null = null;
  playlists = 0;
  done = new BitField();
  failed = new BitField();
  doneCount = 0;
  failedCount = 0;
  bytes = 0;
  unchanged = 0;
  retries = 0;
  failures: Record<string, { key: string; reasons: string[] }> = {};
  refused: Refusal[] = [];
  skipped: Refusal[] = [];
  live: 'ended' | 'recrawl' | 'incomplete' = 'ended';
  notes: Array<{ key: string; note: string }> = [];
  reason?: string;
  updatedAt: string;
  finishedAt?: string;
  reported = false;
  reportKey?: string;

  constructor(
    readonly classId: string,
    readonly runId: string,
    readonly startedAt: string,
  ) {
    this.updatedAt = startedAt;
  }

  static fromJSON(j: ClassStateJson): ClassProgress {
    const p = new ClassProgress(j.classId, j.runId, j.startedAt);
    Object.assign(p, {
      status: j.status,
      total: j.total,
      playlists: j.playlists,
      done: BitField.fromHex(j.done),
      failed: BitField.fromHex(j.failed),
      doneCount: j.doneCount,
      failedCount: j.failedCount,
      bytes: j.bytes,
      unchanged: j.unchanged ?? 0,
      retries: j.retries,
      failures: j.failures,
      refused: j.refused,
      skipped: j.skipped,
      live: j.live ?? 'ended',
      notes: j.notes ?? [],
      reason: j.reason,
      updatedAt: j.updatedAt,
      finishedAt: j.finishedAt,
      reported: j.reported,
      reportKey: j.reportKey,
    });
    return p;
  }

  toJSON(): ClassStateJson {
    return {
      v: 1,
      classId: this.classId,
      runId: this.runId,
      status: this.status,
      total: this.total,
      playlists: this.playlists,
      done: this.done.toHex(),
      failed: this.failed.toHex(),
      doneCount: this.doneCount,
      failedCount: this.failedCount,
      bytes: this.bytes,
      unchanged: this.unchanged,
      retries: this.retries,
      failures: this.failures,
      refused: this.refused,
      skipped: this.skipped,
      live: this.live,
      notes: this.notes,
      reason: this.reason,
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
      finishedAt: this.finishedAt,
      reported: this.reported,
      reportKey: this.reportKey,
    };
  }

  get finished(): boolean {
    return this.status === ClassStatus.complete || this.status === ClassStatus.failed || this.status === ClassStatus.incomplete;
  }

  private settleIfAccounted(now: string): void {
    // A recording that is still live is never complete, however many files are done.
    if (this.finished || this.total === null || this.live === 'recrawl') return;
    if (this.doneCount + this.failedCount < this.total) return;
    if (this.failedCount > 0) this.status = ClassStatus.failed;
    else this.status = this.live === 'incomplete' ? ClassStatus.incomplete : ClassStatus.complete;
    this.finishedAt = now;
  }

  /** The crawler counted the class's files (again, for each crawl of a live recording). */
  applyCrawled(m: ClassCrawled, now: string): void {
    if (this.finished) return;
    // Generations may arrive out of order after redelivery; the file count only grows.
    if (this.total !== null && m.total < this.total) return;
    this.live = m.live;
    this.total = m.total;
    this.playlists = m.playlists;
    this.refused = m.refused;
    this.skipped = m.skipped;
    this.status = ClassStatus.transferring;
    this.updatedAt = now;
    this.settleIfAccounted(now);
  }

  /** One file's attempt. Returns true when anything changed. */
  applyResult(r: FileResult, now: string): boolean {
    if (this.finished) return false;
    const idx = String(r.i);
    if (r.ok) {
      if (!this.done.set(r.i)) return false;
      if (this.failed.clear(r.i)) this.failedCount--;
      this.doneCount++;
      this.bytes += r.bytes;
      if (r.unchanged) this.unchanged++;
      delete this.failures[idx];
      if (r.note && this.notes.length < 1_000) this.notes.push({ key: r.key, note: r.note });
    } else {
      if (this.done.get(r.i)) return false;
      const entry = (this.failures[idx] ??= { key: r.key, reasons: [] });
      const reason = `attempt ${r.attempt}: ${r.error ?? 'unknown error'}`;
      const seen = entry.reasons.some((x) => x.startsWith(`attempt ${r.attempt}:`));
      if (!seen) {
        if (entry.reasons.length < MAX_REASONS) entry.reasons.push(reason);
        if (!r.final) this.retries++;
      }
      if (r.final && this.failed.set(r.i)) this.failedCount++;
      else if (seen) return false;
    }
    this.updatedAt = now;
    this.settleIfAccounted(now);
    return true;
  }

  /** The class failed as a whole (entry playlist missing, crawl failed). */
  applyClassFailed(m: ClassFailed, now: string): void {
    if (this.finished) return;
    this.status = ClassStatus.failed;
    this.reason = m.reason;
    this.refused = m.refused;
    this.updatedAt = now;
    this.finishedAt = now;
  }

  /** Failed files with every attempt's reason. */
  failedFiles(): Array<{ i: number; key: string; reasons: string[] }> {
    return Object.entries(this.failures)
      .filter(([i]) => this.failed.get(Number(i)))
      .map(([i, f]) => ({ i: Number(i), key: f.key, reasons: f.reasons }));
  }
}

/** An aggregator input, applied to one class. */
export type ProgressOp =
  | { readonly kind: 'crawled'; readonly m: ClassCrawled }
  | { readonly kind: 'result'; readonly m: FileResult }
  | { readonly kind: 'failed'; readonly m: ClassFailed };

/**
 * Applies `op` to `current`, starting a new run when the op belongs to a newer
 * one and ignoring ops of older runs. Returns the progress to keep.
 */
export function applyOp(current: ClassProgress | undefined, op: ProgressOp, now: string): ClassProgress {
  const { classId, runId } = op.m;
  let p = current;
  if (!p || (p.runId !== runId && compareRunIds(runId, p.runId) > 0)) {
    const startedAt = op.kind === 'result' ? now : op.m.startedAt;
    p = new ClassProgress(classId, runId, startedAt);
  }
  if (p.runId !== runId) return p; // an older run's straggler
  if (op.kind === 'crawled') p.applyCrawled(op.m, now);
  else if (op.kind === 'result') p.applyResult(op.m, now);
  else p.applyClassFailed(op.m, now);
  return p;
}
