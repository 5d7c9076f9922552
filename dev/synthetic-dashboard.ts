/**
 * Synthetic class states for the dashboard, served by the real server and page
 * without a pipeline behind them: the render benchmark drives thousands of
 * classes with it, and dev/docs-screenshots.ts draws the README's pictures.
 */
import { classView, type ClassView } from '../dashboard/class-view.js';
import type { LiveState, Overall } from '../dashboard/live-state.js';
import type { FileGroup } from '../streams/messages.js';
import { BitField } from '../tracking/bitfield.js';
import type { ClassStateJson } from '../tracking/class-progress.js';

/** One synthetic class: its state, bit fields to move, and the files in flight. */
export interface SyntheticClass {
  s: ClassStateJson;
  readonly done: BitField;
  readonly failed: BitField;
  readonly inFlight: Set<number>;
}

/**
 * A class of `renditions` media playlists of `segments` each under a master,
 * numbered as the crawler numbers them (master, then each rendition's playlist
 * and its segments), with its groups. `renditions` 0: one playlist's worth of
 * `segments` files and no groups, as a state from before groups existed.
 */
export function syntheticClass(classId: string, renditions: number, segments: number, startedAt = new Date().toISOString()): SyntheticClass {
  const groups: FileGroup[] = [];
  if (renditions > 0) {
    groups.push({ name: 'master.m3u8', from: 0, count: 1 });
    for (let r = 0; r < renditions; r++) groups.push({ name: `${320 * (r + 1)}x${180 * (r + 1)}/index.m3u8`, from: 1 + r * (segments + 1), count: segments + 1 });
  }
  const total = renditions > 0 ? 1 + renditions * (segments + 1) : segments;
  const s: ClassStateJson = {
    v: 1, classId, runId: '1-synthetic', status: 'transferring', total, playlists: renditions + 1, groups: renditions > 0 ? groups : undefined,
    done: '', failed: '', doneCount: 0, failedCount: 0, bytes: 0, retries: 0, failures: {}, refused: [], skipped: [], live: 'ended', notes: [],
    startedAt, updatedAt: startedAt, reported: false,
  };
  return { s, done: new BitField(total), failed: new BitField(total), inFlight: new Set() };
}

/** Marks file `i` done (and no longer in flight). */
export function landFile(c: SyntheticClass, i: number, bytes = 500_000): void {
  c.inFlight.delete(i);
  if (!c.done.set(i)) return;
  c.s = { ...c.s, done: c.done.toHex(), doneCount: c.s.doneCount + 1, bytes: c.s.bytes + bytes };
}

/** Marks file `i` failed for good, with why. */
export function failFile(c: SyntheticClass, i: number, key: string, reason: string): void {
  c.inFlight.delete(i);
  if (!c.failed.set(i)) return;
  // A file has one outcome: one that had landed is taken back.
  const landed = c.done.clear(i);
  const failures = Object.keys(c.s.failures).length < 20 ? { ...c.s.failures, [i]: { key, reasons: [reason] } } : c.s.failures;
  c.s = { ...c.s, done: c.done.toHex(), doneCount: c.s.doneCount - (landed ? 1 : 0), failed: c.failed.toHex(), failedCount: c.s.failedCount + 1, failures };
}

/** Settles the class as the aggregator would once every file has an outcome. */
export function finish(c: SyntheticClass, finishedAt = new Date().toISOString()): void {
  const status = c.s.failedCount > 0 ? 'failed' : 'complete';
  c.inFlight.clear();
  c.s = { ...c.s, status, finishedAt, updatedAt: finishedAt, reported: true, reportKey: `reports/${encodeURIComponent(c.s.classId)}/${c.s.runId}.json` };
}

/** A LiveState over `classes`; `touch(id)` marks a class changed for the next push. */
export function syntheticLiveState(classes: Map<string, SyntheticClass>, overall: Partial<Overall> = {}): LiveState & { touch(id: string): void } {
  const dirty = new Set<string>();
  const view = (id: string): ClassView | undefined => {
    const c = classes.get(id);
    return c ? classView(c.s, c.inFlight) : undefined;
  };
  const totals = () => {
    const t = { files: 0, failed: 0, bytes: 0, retries: 0 };
    for (const c of classes.values()) {
      t.files += c.s.doneCount;
      t.failed += c.s.failedCount;
      t.bytes += c.s.bytes;
      t.retries += c.s.retries;
    }
    return t;
  };
  const active = () => [...classes.values()].filter((c) => c.s.status === 'transferring' || c.s.status === 'crawling').length;
  return {
    classes: () => [...classes.keys()].map((id) => view(id) as ClassView),
    get: view,
    overall: () => ({
      classes: classes.size, active: active(), ...totals(), filesPerSecond: 2_000, bytesPerSecond: 1e9, activeWaves: 20,
      queues: { dispatcher: { pending: 1, unacked: 1 } }, history: Array.from({ length: 60 }, (_, i) => ({ t: i, files: 1_000 + i, bytes: 0 })), audits: [], fleet: [],
      ...overall,
    }),
    takeChanges: () => {
      const out = { classes: [...dirty], overall: true };
      dirty.clear();
      return out;
    },
    touch: (id) => void dirty.add(id),
    close: async () => undefined,
  };
}
