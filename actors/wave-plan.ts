/**
 * The pure middle of a wave: what each job's Lambda result means (its
 * outcome), and which results the aggregator hears. No NATS, no Lambda here.
 */
import type { JobResult } from '../lambda/wave.js';
import type { Decided, Handled } from '../streams/actor-runtime.js';
import type { FileResult, TransferJob } from '../streams/messages.js';

/** What the dispatcher remembers about one job of a wave until it is settled. */
export interface WaveJob {
  readonly job: TransferJob;
  readonly r?: JobResult;
  /** A split plan or an uploaded part, handed on to the next job: not the file's outcome yet. */
  readonly handOn?: boolean;
  /** Dead-lettered, but its file could be named: the file's final result is a failure. */
  readonly poison?: boolean;
}

/** One job's outcome from its result. */
export function planJob(job: TransferJob, r: JobResult): Handled<WaveJob> {
  if (r.throttled) return { outcome: { kind: 'throttled', reason: r.error ?? 'throttled' }, detail: { job, r } };
  if (r.ok) return { outcome: { kind: 'ok' }, detail: { job, r, handOn: Boolean(r.split || r.part) } };
  const part = job.part ? `part ${job.part.n}/${job.part.count}: ` : '';
  return { outcome: { kind: 'failed', retryable: r.retryable === true, reason: `${part}${r.error ?? 'unknown error'}` }, detail: { job, r } };
}

/** Every job's outcome when the wave never ran (unreachable, crashed function): this attempt's error for each. */
export function planUnrun(jobs: readonly TransferJob[], error: string): Array<Handled<WaveJob>> {
  return jobs.map((job) => ({ outcome: { kind: 'failed', retryable: true, reason: `wave invocation failed: ${error}` }, detail: { job } }));
}

/**
 * The results the aggregator must hear: every real attempt of a file, and its
 * final word. Hand-offs, throttle rounds, free redeliveries and poison that
 * names no file are not attempts of the file.
 */
export function fileResultsOf(decided: ReadonlyArray<Decided<WaveJob>>): FileResult[] {
  const out: FileResult[] = [];
  for (const d of decided) {
    const w = d.detail;
    if (!w || w.handOn) continue;
    const { decision, outcome } = d;
    if (decision.end === 'nak' && decision.free) continue;
    if (decision.end === 'throttle-round' || (decision.end === 'dead-letter' && !w.poison)) continue;
    const ok = decision.end === 'ack';
    out.push({
      classId: w.job.classId,
      runId: w.job.runId,
      i: w.job.i,
      key: w.job.key,
      ok,
      bytes: ok ? (w.r?.bytes ?? 0) : 0,
      etag: ok ? w.r?.etag : undefined,
      attempt: d.delivery.attempt,
      final: decision.end !== 'nak',
      error: ok ? undefined : decision.end === 'fail' || decision.end === 'dead-letter' ? decision.reason : 'reason' in outcome ? outcome.reason : 'failed',
      note: w.r?.skipped,
      unchanged: w.r?.unchanged,
    });
  }
  return out;
}

/**
 * The results as `WaveResults` messages of at most `maxBytes` of JSON each, so
 * that any wave fits NATS max_payload. Each result is serialised once: the
 * message is built from the same text that was measured.
 */
export function resultsMessages(results: readonly FileResult[], maxBytes: number): string[] {
  const messages: string[] = [];
  const open = '{"results":[';
  let cur: string[] = [];
  let size = open.length + 2;
  for (const r of results) {
    const text = JSON.stringify(r);
    const n = Buffer.byteLength(text) + 1;
    if (cur.length > 0 && size + n > maxBytes) {
      messages.push(`${open}${cur.join(',')}]}`);
      cur = [];
      size = open.length + 2;
    }
    cur.push(text);
    size += n;
  }
  if (cur.length > 0) messages.push(`${open}${cur.join(',')}]}`);
  return messages;
}
