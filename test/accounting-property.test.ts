/**
 * The accounting property: whatever the interleaving of crawls, results,
 * retries, redeliveries, duplicates, late messages, crashes (state reloaded
 * from its persisted JSON) and re-triggers, each trigger (run) gets exactly one
 * outcome, and its counts are the truth.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FileResult } from '../streams/messages.js';
import { applyOp, ClassProgress, type ClassStateJson, type ProgressOp } from '../tracking/class-progress.js';
import { detailRecords } from '../tracking/run-details.js';
import { detailPrefix, runStateKey } from '../tracking/run-keys.js';

const MAX_ATTEMPTS = 3;

/** One file's fate: fails `failures` times, then succeeds (or not, when failures reach the attempts). */
interface FileTruth {
  readonly failures: number;
  readonly bytes: number;
  readonly unchanged: boolean;
}
interface RunTruth {
  readonly classId: string;
  readonly runId: string;
  readonly files: FileTruth[];
  /** The whole class fails before it is counted (entry playlist missing). */
  readonly classFails: boolean;
  readonly refused: number;
}

const fileArb: fc.Arbitrary<FileTruth> = fc.record({
  failures: fc.integer({ min: 0, max: MAX_ATTEMPTS }),
  bytes: fc.integer({ min: 0, max: 10_000 }),
  unchanged: fc.boolean(),
});

/** Several classes, several runs (re-triggers) each, some of them concurrent. */
const runsArb: fc.Arbitrary<RunTruth[]> = fc
  .array(
    fc.record({
      classId: fc.constantFrom('a', 'b', 'c'),
      files: fc.array(fileArb, { minLength: 0, maxLength: 12 }),
      classFails: fc.boolean().map((b) => b && Math.random() < 0.3),
      refused: fc.constantFrom(0, 0, 0, 2),
    }),
    { minLength: 1, maxLength: 6 },
  )
  .map((rs) => rs.map((r, n) => ({ ...r, runId: `${n + 1}-r` })));

/**
 * Every message the pipeline would send for a run, as chains that keep the
 * only order it guarantees: a file's attempt n+1 happens after attempt n's
 * result is published. Chains interleave freely: a crawl and its results, runs
 * and classes, in any order.
 */
function chainsOf(r: RunTruth): ProgressOp[][] {
  const startedAt = '2026-11-26T00:00:00.000Z';
  if (r.classFails) return [[{ kind: 'failed', m: { classId: r.classId, runId: r.runId, reason: 'entry playlist missing', startedAt, refused: [] } }]];
  const chains: ProgressOp[][] = [
    [{ kind: 'crawled', m: { classId: r.classId, runId: r.runId, total: r.files.length, playlists: 1, refused: [], skipped: [], refusedCount: r.refused, skippedCount: 0, startedAt, live: 'ended' } }],
  ];
  r.files.forEach((f, i) => {
    const chain: ProgressOp[] = [];
    const attempts = Math.min(f.failures + 1, MAX_ATTEMPTS);
    for (let a = 1; a <= attempts; a++) {
      const ok = a > f.failures;
      const final = ok || a === MAX_ATTEMPTS;
      const m: FileResult = { classId: r.classId, runId: r.runId, i, key: `k${i}`, ok, bytes: ok ? f.bytes : 0, attempt: a, final, error: ok ? undefined : `boom ${a}`, unchanged: ok && f.unchanged ? true : undefined };
      chain.push({ kind: 'result', m });
    }
    chains.push(chain);
  });
  return chains;
}

describe('accounting - property', () => {
  it('accounting - every run gets exactly one outcome with true counts, under any interleaving', () => {
    fc.assert(
      fc.property(
        runsArb,
        fc.infiniteStream(fc.nat()),
        fc.array(fc.nat({ max: 3 }), { minLength: 200, maxLength: 200 }),
        (runs, picks, dupes) => {
          const chains = runs.flatMap(chainsOf).filter((c) => c.length > 0);
          const order: ProgressOp[] = [];
          const it = picks[Symbol.iterator]();
          while (chains.length) {
            const n = (it.next().value as number) % chains.length;
            const chain = chains[n] as ProgressOp[];
            const op = chain.shift() as ProgressOp;
            if (chain.length === 0) chains.splice(n, 1);
            const copies = 1 + ((dupes[order.length % dupes.length] ?? 0) % 3); // duplicates and redeliveries
            for (let c = 0; c < copies; c++) order.push(op);
          }
          // Late duplicates after everything: a redelivery long after the run finished.
          order.push(...order.slice(0, Math.min(5, order.length)));

          const store = new Map<string, ClassStateJson>();
          // The run's detail records (tracking/run-details.ts): written idempotently, read once for the report.
          const records = new Map<string, string>();
          const outcomes = new Map<string, ClassProgress[]>();
          order.forEach((op, n) => {
            const key = runStateKey(op.m.classId, op.m.runId);
            const stored = store.get(key);
            // Every state is read back from its persisted form, as after a crash and restart.
            const before = stored ? ClassProgress.fromJSON(JSON.parse(JSON.stringify(stored)) as ClassStateJson) : undefined;
            const wasFinished = before?.finished ?? false;
            if (!before?.reported) for (const [k, v] of detailRecords(op)) records.set(k, v);
            const after = applyOp(before, op, new Date(1_700_000_000_000 + n).toISOString());
            store.set(key, after.toJSON());
            if (after.finished && !wasFinished) {
              // What finalize reports: the state's counts, and the retries from the records.
              const prefix = detailPrefix(op.m.classId, op.m.runId);
              const retries = [...records].filter(([k, v]) => k.startsWith(`${prefix}f.`) && !(JSON.parse(v) as { final: boolean }).final).length;
              outcomes.set(key, [...(outcomes.get(key) ?? []), Object.assign(after, { retries })]);
              after.reported = true;
              store.set(key, after.toJSON());
            }
          });

          for (const r of runs) {
            const got = outcomes.get(runStateKey(r.classId, r.runId)) ?? [];
            expect(got, `run ${r.runId} of ${r.classId}`).toHaveLength(1);
            const p = got[0] as ClassProgress;
            if (r.classFails) {
              expect(p.status).toBe('failed');
              continue;
            }
            const failed = r.files.filter((f) => f.failures >= MAX_ATTEMPTS);
            const done = r.files.filter((f) => f.failures < MAX_ATTEMPTS);
            expect(p.total).toBe(r.files.length);
            expect(p.doneCount).toBe(done.length);
            expect(p.failedCount).toBe(failed.length);
            expect(p.bytes).toBe(done.filter((f) => !f.unchanged).reduce((s, f) => s + f.bytes, 0));
            expect(p.verifiedBytes).toBe(done.filter((f) => f.unchanged).reduce((s, f) => s + f.bytes, 0));
            expect(p.unchanged).toBe(done.filter((f) => f.unchanged).length);
            // Retries: every failed attempt that was not a file's last word.
            expect(p.retries).toBe(r.files.reduce((s, f) => s + Math.min(f.failures, MAX_ATTEMPTS - 1), 0));
            expect(p.status).toBe(failed.length > 0 || r.refused > 0 ? 'failed' : 'complete');
            // The state stays small whatever happened.
            expect(JSON.stringify(p.toJSON()).length).toBeLessThan(16 * 1024);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
