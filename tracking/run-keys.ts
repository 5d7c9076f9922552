/**
 * Where a class run's records live in the class-state KV bucket. Class and run
 * ids are untrusted text and KV keys are not, so both are encoded.
 *
 * - `class.<class>.<run>`: the run's progress (bounded; tracking/class-progress.ts)
 * - `open.<class>.<run>`: the run is not reported yet (the sweep reads only these)
 * - `last.<class>`: the class's last reported run (for `scan` to skip unchanged classes)
 * - `detail.<class>.<run>.…`: one small record per failed attempt, note or list piece
 */
const enc = (s: string) => Buffer.from(s, 'utf8').toString('base64url') || '_';

/** The encoded class-and-run part of every key of a run. */
export function runPath(classId: string, runId: string): string {
  return `${enc(classId)}.${enc(runId)}`;
}

/** Prefix of the progress keys of every run of a class (list them under it). */
export function classRunsPrefix(classId: string): string {
  return `class.${enc(classId)}.`;
}

/** The run's progress. */
export function runStateKey(classId: string, runId: string): string {
  return `class.${runPath(classId, runId)}`;
}

/** Present while the run is not reported. */
export function openRunKey(classId: string, runId: string): string {
  return `open.${runPath(classId, runId)}`;
}

/** The class's last reported run. */
export function lastRunKey(classId: string): string {
  return `last.${enc(classId)}`;
}

/** Prefix of every detail record of a run (append `>` to list them). */
export function detailPrefix(classId: string, runId: string): string {
  return `detail.${runPath(classId, runId)}.`;
}

/** What `open.` and `last.` records hold. */
export interface RunPointer {
  readonly classId: string;
  readonly runId: string;
  readonly status?: string;
  readonly reportKey?: string;
  readonly startedAt?: string;
}
