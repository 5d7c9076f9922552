/**
 * The dispatchers' shared record of a split file's uploaded parts, in a KV
 * bucket with compare-and-set, so any dispatcher process may see any part's
 * result. Once every part is in, the file's assembly job is due.
 */
import { createHash } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { FileAssembly, FilePart, JobResult, SplitPlan } from '../lambda/wave.js';
import type { TransferJob } from '../streams/messages.js';

/** Publishes a transfer job, deduplicated by `msgID`. */
type PublishJob = (job: TransferJob, msgID: string) => Promise<unknown>;

interface PartRecord {
  readonly uploadId: string;
  readonly size: number;
  readonly version?: string;
  readonly count: number;
  /** Part number → ETag. */
  readonly etags: Record<string, string>;
}

/** CAS conflicts tolerated per update: each means another dispatcher just recorded a part. */
const MAX_CAS_TRIES = 50;

/** One record per upload: a re-split after a redelivery opens a new upload and gets its own record. */
export function partRecordKey(runId: string, i: number, uploadId: string): string {
  const upload = createHash('sha256').update(uploadId).digest('hex').slice(0, 24);
  return `${runId.replace(/[^-\w]/g, '_')}.${i}.${upload}`;
}

/**
 * Records that part `part.n` is uploaded with `etag`. Returns the assembly when
 * every part is in, including on a redelivered result after that point, so an
 * assembly job lost between the record and its publish is published again
 * (the job's message id dedupes the repeats).
 */
export async function recordPart(kv: KV, runId: string, i: number, part: FilePart, etag: string): Promise<FileAssembly | undefined> {
  const key = partRecordKey(runId, i, part.uploadId);
  for (let attempt = 0; attempt < MAX_CAS_TRIES; attempt++) {
    const entry = await kv.get(key);
    const current: PartRecord =
      entry && entry.operation === 'PUT' && entry.length > 0
        ? (entry.json() as PartRecord)
        : { uploadId: part.uploadId, size: part.size, version: part.version, count: part.count, etags: {} };
    const next: PartRecord = current.etags[part.n] === etag ? current : { ...current, etags: { ...current.etags, [part.n]: etag } };
    if (next !== current) {
      try {
        if (entry && entry.operation === 'PUT') await kv.update(key, JSON.stringify(next), entry.revision);
        else await kv.create(key, JSON.stringify(next));
      } catch {
        continue; // someone else wrote first: read again
      }
    }
    const parts = Object.entries(next.etags).map(([n, e]) => ({ n: Number(n), etag: e }));
    if (parts.length < next.count) return undefined;
    return { uploadId: next.uploadId, size: next.size, version: next.version, parts };
  }
  throw new Error(`could not record part ${part.n} of ${key}: ${MAX_CAS_TRIES} concurrent updates in a row`);
}

/** Queues one job per ranged part of a split file, deduplicated per upload and part. */
export async function queueParts(publish: PublishJob, job: TransferJob, plan: SplitPlan): Promise<void> {
  await Promise.all(
    plan.parts.map((p) =>
      publish(
        { ...job, part: { uploadId: plan.uploadId, n: p.n, count: plan.parts.length, start: p.start, end: p.end, size: plan.size, version: plan.version } },
        `p:${job.runId}:${job.i}:${p.n}:${plan.uploadId}`,
      ),
    ),
  );
}

/** Records an uploaded part; queues the file's assembly once every part is in. */
export async function handOnPart(kv: KV, publish: PublishJob, job: TransferJob, r: JobResult): Promise<void> {
  if (!job.part || !r.part) return;
  const assembly = await recordPart(kv, job.runId, job.i, job.part, r.part.etag);
  if (!assembly) return;
  const { part: _part, ...file } = job;
  await publish({ ...file, assemble: { ...assembly, parts: [...assembly.parts] } }, `a:${job.runId}:${job.i}:${assembly.uploadId}`);
}

/** Hands a split file's plan, or an uploaded part, on to the next job: neither is the file's outcome yet. */
export function handOn(kv: KV, publish: PublishJob, job: TransferJob, r: JobResult): Promise<void> {
  return r.split ? queueParts(publish, job, r.split) : handOnPart(kv, publish, job, r);
}
