/**
 * The transfer Lambda: copies one wave of files with bounded concurrency and
 * returns one result per job. It stops starting files before its time budget
 * ends and hands the rest back as retryable. Imports nothing from actors/.
 */
import { setMaxListeners } from 'node:events';
import type { S3Client } from '@aws-sdk/client-s3';
import { describeError, isNotFound, isPermanent, isThrottle, PermanentError, RetryableError } from '../storage/errors.js';
import { objectIo } from '../storage/object-http.js';
import { makeS3Client } from '../storage/s3-client.js';
import { makeSourceReader, type SourceReader } from '../storage/source-reader.js';
import { SourceRoot } from '../storage/source-root.js';
import { copyFile } from './copy-file.js';
import { listDestination } from './list-destination.js';
import { assembleFile, copyPart } from './split-file.js';
import { serverSideCopy } from './server-side-copy.js';
import { hashBothSides } from './hash-file.js';
import { sourceCredentials } from './source-credentials.js';
import { parseWaveRequest } from './wave-request.js';
import type { JobResult, WaveDest, WaveRequest, WaveResponse, WaveSource } from './wave.js';

/** What the handler needs from its runtime: the time left, as AWS's context gives it. */
export interface InvocationContext {
  getRemainingTimeInMillis(): number;
}

/**
 * Where server-side copy applies, smaller files are streamed anyway. Measured
 * on Ceph RGW (one cluster holding both buckets): 200 KB files streamed at
 * 1.4-2.7x the files/s of server-side copy (HEAD, CopyObject and HEAD per
 * file, against a GET and a PUT), while 8 MiB files copied server-side at
 * 2.4-2.8x the MB/s of streaming.
 */
const SERVER_SIDE_MIN_BYTES = 8 * 1024 * 1024;

/** Time kept back at the end of the budget: no new file starts inside it. */
const START_RESERVE_MS = 5_000;
/** In-flight copies are aborted this long before the budget ends, so results still get out. */
const ABORT_RESERVE_MS = 1_500;

const clients = new Map<string, { s3: S3Client; reader?: SourceReader; root?: SourceRoot }>();

// Clients are cached across invocations of a warm function: their keep-alive
// sockets are most of the speed on small segments.
async function sourceFor(spec: WaveSource, directIo: boolean): Promise<{ reader: SourceReader; root: SourceRoot }> {
  const cacheKey = `src:${directIo}:${JSON.stringify(spec)}`;
  let hit = clients.get(cacheKey);
  if (!hit) {
    const root = new SourceRoot(spec.location, spec.allow);
    const s3 = makeS3Client({ ...spec, credentials: await sourceCredentials() });
    hit = { s3, root, reader: makeSourceReader(root, objectIo(s3, directIo)) };
    clients.set(cacheKey, hit);
  }
  return { reader: hit.reader as SourceReader, root: hit.root as SourceRoot };
}

function destFor(spec: WaveDest): S3Client {
  const cacheKey = `dst:${JSON.stringify({ ...spec, location: undefined })}`;
  let hit = clients.get(cacheKey);
  if (!hit) {
    hit = { s3: makeS3Client(spec) };
    clients.set(cacheKey, hit);
  }
  return hit.s3;
}

/**
 * S3 can copy inside one service when one principal reaches both buckets: same
 * endpoint and region, and no separate source credentials.
 */
async function canCopyServerSide(req: WaveRequest): Promise<boolean> {
  const s = req.source;
  if (req.op === 'hash' || req.options.serverSideCopy === false || s.location.kind !== 's3') return false;
  if ((s.endpoint ?? '') !== (req.dest.endpoint ?? '') || s.region !== req.dest.region) return false;
  return (await sourceCredentials()) === undefined;
}

/** Checks a destination key suffix: no traversal, no absolute paths, no control characters. */
export function checkDestKey(key: string): void {
  const parts = key.split('/');
  if (!key || key.startsWith('/') || parts.includes('..') || parts.includes('.') || /[\u0000-\u001f\\]/.test(key)) {
    throw new PermanentError(`destination key ${JSON.stringify(key.slice(0, 200))} is not a safe relative key`);
  }
}

/** S3's limit on a key, in bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;

/**
 * A key S3 would refuse for its length fails its file at once, saying so: the
 * PUT's own answer would come three attempts later, with the cause cut off
 * behind the quoted key.
 */
export function checkKeyLength(key: string): void {
  const bytes = Buffer.byteLength(key);
  if (bytes > MAX_KEY_BYTES) {
    throw new PermanentError(`destination key is ${bytes} bytes, over S3's ${MAX_KEY_BYTES}-byte limit (a shorter destination prefix or source path fits): ${JSON.stringify(key.slice(0, 120))}…`);
  }
}

/** Copies every job of `req`. Never throws for a single file: each gets its own result. */
export async function handleWave(req: WaveRequest, ctx: InvocationContext): Promise<WaveResponse> {
  const directIo = req.options.directIo !== false;
  const { reader, root } = await sourceFor(req.source, directIo);
  const dest = destFor(req.dest);
  const io = objectIo(dest, directIo);
  const serverSide = await canCopyServerSide(req);
  const sourceBucket = req.source.location.kind === 's3' ? req.source.location.bucket : undefined;
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // every in-flight copy listens to the same budget signal
  const abortIn = ctx.getRemainingTimeInMillis() - ABORT_RESERVE_MS;
  const abortTimer = setTimeout(() => abort.abort(new RetryableError('time budget ended mid-copy')), Math.max(0, abortIn));
  const results: JobResult[] = new Array(req.jobs.length);
  const destKeys = req.jobs.map((j) => req.dest.location.prefix + j.key);
  // One listing tells which whole files the destination lacks; only the others
  // need a HEAD. Part and assembly jobs never check the destination.
  const wholeFiles = destKeys.filter((_, i) => !req.jobs[i]?.part && !req.jobs[i]?.assemble);
  const listed =
    req.op !== 'hash' && req.options.skipIdentical && wholeFiles.length > 0
      ? await listDestination(dest, req.dest.location.bucket, wholeFiles, { signal: abort.signal }).catch(() => undefined)
      : undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const index = next++;
      const job = req.jobs[index];
      if (!job) return;
      const started = Date.now();
      if (ctx.getRemainingTimeInMillis() < START_RESERVE_MS || abort.signal.aborted) {
        results[index] = { ok: false, bytes: 0, ms: 0, error: 'time budget exhausted before start', retryable: true };
        continue;
      }
      try {
        const ref = root.fromRef(job.src);
        checkDestKey(job.key);
        checkKeyLength(req.dest.location.prefix + job.key);
        const target = { reader, dest, io, bucket: req.dest.location.bucket };
        if (req.op === 'hash') {
          const hashes = await hashBothSides(target, ref, req.dest.location.prefix + job.key, { ...req.options, signal: abort.signal });
          results[index] = { ok: true, bytes: hashes.sourceBytes, ms: Date.now() - started, hashes };
          continue;
        }
        const destKey = destKeys[index] as string;
        if (job.part) {
          const out = await copyPart(target, ref, destKey, job.part, { ...req.options, signal: abort.signal });
          // A part that finds its file already assembled reports the file; any other reports its part.
          results[index] = out.assembled
            ? { ok: true, bytes: out.bytes, etag: out.etag, ms: Date.now() - started, method: 'stream' }
            : { ok: true, bytes: out.bytes, ms: Date.now() - started, method: 'stream', part: { n: job.part.n, etag: out.etag } };
          continue;
        }
        if (job.assemble) {
          const out = await assembleFile(target, destKey, job.assemble, abort.signal);
          results[index] = { ok: true, bytes: out.bytes, etag: out.etag, ms: Date.now() - started, method: 'stream' };
          continue;
        }
        // Only the source bucket is known to share the destination's service and
        // principal; an allow-listed root (an https:// key server, another
        // bucket) is streamed with its own scheme.
        const inside = serverSide && ref.url.protocol === 's3:' && ref.url.host === sourceBucket;
        const streamed = await copyFile(target, ref, destKey, {
          ...req.options,
          knownAbsent: listed?.absent(destKey),
          serverSideFrom: inside ? (req.options.serverSideMinBytes ?? SERVER_SIDE_MIN_BYTES) : undefined,
          signal: abort.signal,
        });
        const out = streamed.serverSide
          ? await serverSideCopy(dest, { bucket: ref.url.host, key: decodeURIComponent(ref.url.pathname.slice(1)) }, { bucket: req.dest.location.bucket, key: destKey }, {
              ...req.options,
              signal: abort.signal,
            })
          : streamed;
        results[index] = {
          ok: true,
          bytes: out.bytes,
          etag: out.etag,
          ms: Date.now() - started,
          unchanged: out.unchanged || undefined,
          split: out.split,
          method: streamed.serverSide ? 'server-side' : 'stream',
        };
      } catch (err) {
        if (job.optional && isNotFound(err)) {
          results[index] = { ok: true, bytes: 0, ms: Date.now() - started, skipped: `optional file missing: ${describeError(err)}` };
          continue;
        }
        const cause = abort.signal.aborted ? new RetryableError('time budget ended mid-copy', { cause: err }) : err;
        results[index] = {
          ok: false,
          bytes: 0,
          ms: Date.now() - started,
          error: describeError(cause),
          retryable: !isPermanent(cause),
          throttled: isThrottle(cause) || undefined,
        };
      }
    }
  };
  const lanes = Math.max(1, Math.min(req.options.fileConcurrency, req.jobs.length));
  try {
    await Promise.all(Array.from({ length: lanes }, worker));
  } finally {
    clearTimeout(abortTimer);
  }
  return { results };
}

/** The AWS Lambda entry point: a payload that is not a wave request fails as InvalidWaveRequest, naming the problem. */
export const handler = async (event: unknown, context: InvocationContext): Promise<WaveResponse> =>
  handleWave(parseWaveRequest(event), context);
