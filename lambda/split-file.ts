/**
 * Files too large for one job (a single-file byte-range rendition of several
 * GB, say) are split. The file's first job opens a multipart upload and hands
 * back a plan of ranged parts; the dispatcher queues each part as its own job,
 * so parts run in parallel across invocations and are retried one by one. The
 * dispatchers record each uploaded part (actors/split-parts.ts), and once all
 * are in, one assembly job completes the upload.
 *
 * Every step may run twice: a redelivered part re-uploads its range, and a part
 * or assembly that arrives after the upload was completed finds the finished
 * object instead.
 */
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { PermanentError, RetryableError } from '../storage/errors.js';
import { etagIsMd5, recordedSourceVersion, SOURCE_VERSION_META, sourceVersionMetadata, unquoteEtag } from '../storage/etag.js';
import type { SourceRef } from '../storage/source-root.js';
import type { CopyDeps, CopyOptions } from './copy-deps.js';
import { guardBody } from './verify-stream.js';
import type { FileAssembly, FilePart, SplitPlan } from './wave.js';

/** Parts per file at most: S3 allows 10,000, and the assembly job lists every part's ETag in one message. */
const MAX_PARTS = 2_000;

/** The ranged parts of a file of `size` bytes: `partSize` each, larger if 2,000 parts would not hold it. */
export function planParts(size: number, partSize: number): SplitPlan['parts'] {
  const each = Math.max(partSize, Math.ceil(size / MAX_PARTS));
  const parts: Array<{ n: number; start: number; end: number }> = [];
  for (let start = 0, n = 1; start < size; start += each, n++) parts.push({ n, start, end: Math.min(size, start + each) });
  return parts;
}

/** Opens the multipart upload for `key` and returns the plan of ranged parts. */
export async function startSplit(
  deps: CopyDeps,
  key: string,
  src: { length: number; version?: string },
  o: CopyOptions & { splitPartSize: number },
): Promise<SplitPlan> {
  const metadata = sourceVersionMetadata(src.version);
  const { UploadId } = await deps.dest.send(new CreateMultipartUploadCommand({ Bucket: deps.bucket, Key: key, Metadata: metadata }), {
    abortSignal: o.signal,
  });
  if (!UploadId) throw new RetryableError(`CreateMultipartUpload for ${key} returned no UploadId`);
  return { uploadId: UploadId, size: src.length, version: src.version, parts: planParts(src.length, o.splitPartSize) };
}

const isNoSuchUpload = (err: unknown) => (err as { name?: string; Code?: string })?.name === 'NoSuchUpload' || (err as { Code?: string })?.Code === 'NoSuchUpload';

/** True when `key` already holds the whole file of this version: the upload was completed by another part. */
async function alreadyAssembled(deps: CopyDeps, key: string, part: { size: number; version?: string }, signal?: AbortSignal): Promise<{ etag: string } | undefined> {
  const head = await deps.io.head(deps.bucket, key, signal).catch(() => undefined);
  if (!head || head.length !== part.size) return undefined;
  if (part.version && head.metadata[SOURCE_VERSION_META] !== recordedSourceVersion(part.version)) return undefined;
  return { etag: unquoteEtag(head.etag) };
}

/**
 * Copies one ranged part into its upload. Throws PermanentError when the
 * source changed since the split (the plan no longer describes it) or the
 * upload is gone and the file is not there.
 */
export async function copyPart(
  deps: CopyDeps,
  ref: SourceRef,
  key: string,
  part: FilePart,
  o: CopyOptions,
): Promise<{ bytes: number; etag: string; assembled: boolean }> {
  const label = `${ref.path} part ${part.n}/${part.count}`;
  const src = await deps.reader.open(ref, { signal: o.signal, timeoutMs: o.stallTimeoutMs, range: { start: part.start, end: part.end } });
  src.body.on('error', () => undefined); // relay() reports it
  if (part.version && src.version !== part.version) {
    src.body.destroy();
    throw new PermanentError(`${label}: the source changed since the file was split (version ${src.version ?? 'unknown'}, split at ${part.version})`);
  }
  const want = part.end - part.start;
  if (src.length !== undefined && src.length !== want) {
    src.body.destroy();
    throw new RetryableError(`${label}: asked for ${want} bytes, the source answered ${src.length}`);
  }
  const body = guardBody(src.body, { stallTimeoutMs: o.stallTimeoutMs, signal: o.signal });
  const { guard } = body;
  try {
    const out = await deps.dest.send(
      new UploadPartCommand({ Bucket: deps.bucket, Key: key, UploadId: part.uploadId, PartNumber: part.n, Body: guard, ContentLength: want }),
      { abortSignal: body.signal },
    );
    const etag = unquoteEtag(out.ETag);
    if (body.error) throw body.error;
    if (guard.bytes !== want) throw new RetryableError(`${label}: ${guard.bytes} of ${want} bytes arrived`);
    const md5 = guard.md5.digest('hex');
    if (etagIsMd5(etag, out.ServerSideEncryption, out.SSECustomerAlgorithm) && etag !== md5) {
      throw new RetryableError(`${label}: checksum mismatch, ETag ${etag}, streamed MD5 ${md5}`);
    }
    return { bytes: want, etag: out.ETag ?? etag, assembled: false };
  } catch (err) {
    const cause = body.error ?? err;
    if (isNoSuchUpload(cause)) {
      // The upload was completed before this redelivery ran.
      const done = await alreadyAssembled(deps, key, part, o.signal);
      if (done) return { bytes: part.size, etag: done.etag, assembled: true };
      throw new PermanentError(`${label}: the multipart upload is gone and ${key} does not hold the file`);
    }
    throw cause;
  } finally {
    body.done();
  }
}

/** Completes a split file's upload from its recorded parts, and checks the whole file's size. */
export async function assembleFile(deps: CopyDeps, key: string, a: FileAssembly, signal?: AbortSignal): Promise<{ bytes: number; etag: string }> {
  try {
    const done = await deps.dest.send(
      new CompleteMultipartUploadCommand({
        Bucket: deps.bucket,
        Key: key,
        UploadId: a.uploadId,
        MultipartUpload: { Parts: [...a.parts].sort((x, y) => x.n - y.n).map((p) => ({ PartNumber: p.n, ETag: p.etag })) },
      }),
      { abortSignal: signal },
    );
    const head = await deps.io.head(deps.bucket, key, signal);
    if (head.length !== a.size) throw new RetryableError(`${key}: assembled ${head.length} bytes, the source has ${a.size}`);
    return { bytes: a.size, etag: unquoteEtag(done.ETag) };
  } catch (err) {
    if (!isNoSuchUpload(err)) throw err;
    // A redelivered assembly: the first one completed it.
    const done = await alreadyAssembled(deps, key, { size: a.size, version: a.version }, signal);
    if (done) return { bytes: a.size, etag: done.etag };
    throw new PermanentError(`${key}: the multipart upload is gone and the file is not there`);
  }
}
