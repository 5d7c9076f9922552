/**
 * Per-run progress: which files of one class run are done or failed, as bit
 * fields, with counts and a bounded sample of failures. Applying the same
 * result twice changes nothing, which is what makes redelivery and crash
 * recovery count exactly once. Every run (every trigger) has its own state, so
 * concurrent runs of a class are each reported. The state stays bounded
 * whatever the failure count: full details live in detail records
 * (tracking/run-details.ts) and end up in the report.
 */
import type { ClassCrawled, ClassFailed, FileGroup, FileResult, Refusal } from '../streams/messages.js';
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

/** Failing files, reasons per file, notes and refusals kept in the state itself: a sample for live views. */
export const SAMPLE_FILES = 20;
const SAMPLE_REASONS = 3;
/** Longest reason kept anywhere (state, records, reports). */
export const MAX_REASON_CHARS = 500;

/** Cuts a reason to MAX_REASON_CHARS. */
export function clip(reason: string): string {
  return reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 1)}…` : reason;
}

/** The persisted form, as stored in JetStream KV. */
export interface ClassStateJson {
  readonly v: 1;
  readonly classId: string;
  readonly runId: string;
  readonly status: ClassStatus;
  readonly total: number | null;
  readonly playlists: number;
  /** Which file indexes each playlist brought in, for live views; absent in states written before it existed. */
  readonly groups?: readonly FileGroup[];
  readonly done: string;
  readonly failed: string;
  readonly doneCount: number;
  readonly failedCount: number;
  /** Bytes copied. */
  readonly bytes: number;
  /** Bytes found already identical at the destination, not copied. */
  readonly verifiedBytes?: number;
  readonly unchanged?: number;
  readonly retries: number;
  /** A sample of failing files (at most SAMPLE_FILES), for live views; the report has them all. */
  readonly failures: Record<string, { key: string; reasons: string[] }>;
  readonly refused: Refusal[];
  readonly skipped: Refusal[];
  readonly refusedCount?: number;
  readonly skippedCount?: number;
  readonly notesCount?: number;
  /** The crawl generation whose view (total, live) the state holds. */
  readonly generation?: number;
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
  groups?: readonly FileGroup[];
  done = new BitField();
  failed = new BitField();
  doneCount = 0;
  failedCount = 0;
  bytes = 0;
  verifiedBytes = 0;
  unchanged = 0;
  retries = 0;
  failures: Record<string, { key: string; reasons: string[] }> = {};
  refused: Refusal[] = [];
  skipped: Refusal[] = [];
  refusedCount = 0;
  skippedCount = 0;
  notesCount = 0;
  generation = 0;
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
      groups: j.groups,
      done: BitField.fromHex(j.done),
      failed: BitField.fromHex(j.failed),
      doneCount: j.doneCount,
      failedCount: j.failedCount,
      bytes: j.bytes,
      verifiedBytes: j.verifiedBytes ?? 0,
      unchanged: j.unchanged ?? 0,
      retries: j.retries,
      failures: j.failures,
      refused: j.refused,
      skipped: j.skipped,
      refusedCount: j.refusedCount ?? j.refused.length,
      skippedCount: j.skippedCount ?? j.skipped.length,
      notesCount: j.notesCount ?? (j.notes ?? []).length,
      generation: j.generation ?? 0,
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
      groups: this.groups,
      done: this.done.toHex(),
      failed: this.failed.toHex(),
      doneCount: this.doneCount,
      failedCount: this.failedCount,
      bytes: this.bytes,
      verifiedBytes: this.verifiedBytes,
      unchanged: this.unchanged,
      retries: this.retries,
      failures: this.failures,
      refused: this.refused,
      skipped: this.skipped,
      refusedCount: this.refusedCount,
      skippedCount: this.skippedCount,
      notesCount: this.notesCount,
      generation: this.generation,
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
    else if (this.refusedCount > 0) {
      // A copy whose playlists point at files we refused to fetch cannot be played from the destination.
      this.status = ClassStatus.failed;
      this.reason = `${this.refusedCount} referenced URI(s) refused (outside FLANTS_SOURCE and FLANTS_SOURCE_ALLOW): the copy is not playable`;
    } else this.status = this.live === 'incomplete' ? ClassStatus.incomplete : ClassStatus.complete;
    this.finishedAt = now;
  }

  /**
   * The crawler counted the class's files (again, for each crawl of a live
   * recording). The newest view wins: a later generation, or within one
   * generation a crawl that found the recording ended; never a stale one that
   * arrives late. A sliding-window recording may list fewer files at the end.
   */
  applyCrawled(m: ClassCrawled, now: string): void {
    if (this.finished) return;
    const rank = (generation: number, live: string) => generation * 2 + (live === 'recrawl' ? 0 : 1);
    if (this.total !== null && rank(m.generation ?? 0, m.live) < rank(this.generation, this.live)) return;
    this.generation = m.generation ?? 0;
    this.live = m.live;
    this.total = m.total;
    this.playlists = m.playlists;
    this.groups = m.groups;
    this.refused = m.refused.slice(0, SAMPLE_FILES);
    this.skipped = m.skipped.slice(0, SAMPLE_FILES);
    this.refusedCount = m.refusedCount ?? m.refused.length;
    this.skippedCount = m.skippedCount ?? m.skipped.length;
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
      if (r.unchanged) {
        this.unchanged++;
        this.verifiedBytes += r.bytes;
      } else this.bytes += r.bytes;
      delete this.failures[idx];
      if (r.note) {
        this.notesCount++;
        if (this.notes.length < SAMPLE_FILES) this.notes.push({ key: r.key, note: clip(r.note) });
      }
    } else {
      // The exact retry count comes from the run's detail records (one per file
      // and attempt, idempotent); this one is a live estimate, which a
      // redelivered result may count twice.
      if (!r.final) this.retries++;
      if (this.done.get(r.i)) return false;
      const entry = this.failures[idx] ?? (Object.keys(this.failures).length < SAMPLE_FILES ? (this.failures[idx] = { key: r.key, reasons: [] }) : undefined);
      const reason = clip(`attempt ${r.attempt}: ${r.error ?? 'unknown error'}`);
      if (entry && !entry.reasons.some((x) => x.startsWith(`attempt ${r.attempt}:`)) && entry.reasons.length < SAMPLE_REASONS) entry.reasons.push(reason);
      if (r.final && this.failed.set(r.i)) this.failedCount++;
    }
    this.updatedAt = now;
    this.settleIfAccounted(now);
    return true;
  }


  /** The class failed as a whole (entry playlist missing, crawl failed). */
  applyClassFailed(m: ClassFailed, now: string): void {
    if (this.finished) return;
    this.status = ClassStatus.failed;
    this.reason = clip(m.reason);
    this.refused = m.refused.slice(0, SAMPLE_FILES);
    this.refusedCount = m.refused.length;
    this.updatedAt = now;
    this.finishedAt = now;
  }

  /**
   * Results arrived and no crawl ever counted the class's files, since
   * `before`: the crawl event was lost (dead-lettered) or the results name a
   * run that never existed. The run fails, saying so, instead of staying open
   * for good. A run whose crawl has arrived meanwhile, or that had a result
   * since `before`, is left as it is.
   */
  applyOrphaned(before: string, now: string): void {
    if (this.finished || this.total !== null || this.updatedAt > before) return;
    this.status = ClassStatus.failed;
    this.reason =
      `results for ${this.doneCount + this.failedCount} file(s) (${this.doneCount} copied, ${this.failedCount} failed) arrived, but not the crawl ` +
      `that counts the class's files: whether every file was copied is unknown; trigger the class again`;
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
  | { readonly kind: 'failed'; readonly m: ClassFailed }
  | { readonly kind: 'orphaned'; readonly m: { readonly classId: string; readonly runId: string; readonly before: string } };

/** Applies `op` to its run's progress (`current`, or a new one for a run not seen yet). */
export function applyOp(current: ClassProgress | undefined, op: ProgressOp, now: string): ClassProgress {
  const { classId, runId } = op.m;
  const p = current ?? new ClassProgress(classId, runId, op.kind === 'result' || op.kind === 'orphaned' ? now : op.m.startedAt);
  if (p.runId !== runId) throw new Error(`op of run ${runId} applied to run ${p.runId}`);
  if (op.kind === 'crawled') p.applyCrawled(op.m, now);
  else if (op.kind === 'result') p.applyResult(op.m, now);
  else if (op.kind === 'orphaned') p.applyOrphaned(op.m.before, now);
  else p.applyClassFailed(op.m, now);
  return p;
}
