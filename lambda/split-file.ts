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
import { etagIsMd5, isMultipartEtag, multipartEtag, recordedSourceVersion, SOURCE_VERSION_META, sourceVersionMetadata, unquoteEtag } from '../storage/etag.js';
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

/**
 * True when `key` already holds the whole file of this version: the upload was
 * completed by another part. With `etag` (the one the parts predict), an
 * object of another multipart ETag is not it.
 */
async function alreadyAssembled(
  deps: CopyDeps,
  key: string,
  part: { size: number; version?: string; etag?: string },
  signal?: AbortSignal,
): Promise<{ etag: string } | undefined> {
  const head = await deps.io.head(deps.bucket, key, signal).catch(() => undefined);
  if (!head || head.length !== part.size) return undefined;
  if (part.version && head.metadata[SOURCE_VERSION_META] !== recordedSourceVersion(part.version)) return undefined;
  const etag = unquoteEtag(head.etag);
  if (part.etag && isMultipartEtag(etag) && etag !== part.etag) return undefined;
  return { etag };
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

/** Completes a split file's upload from its recorded parts, and checks the whole file's size and ETag. */
export async function assembleFile(deps: CopyDeps, key: string, a: FileAssembly, signal?: AbortSignal): Promise<{ bytes: number; etag: string }> {
  const parts = [...a.parts].sort((x, y) => x.n - y.n);
  // Each part's ETag was checked against the MD5 of the bytes sent, so together they predict the object's.
  const partMd5s = parts.map((p) => unquoteEtag(p.etag));
  try {
    await deps.dest.send(
      new CompleteMultipartUploadCommand({
        Bucket: deps.bucket,
        Key: key,
        UploadId: a.uploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.n, ETag: p.etag })) },
      }),
      { abortSignal: signal },
    );
  } catch (err) {
    // A redelivered assembly may find the upload completed by the first one:
    // S3 answers NoSuchUpload, and Ceph RGW 16 answers an upload id it no
    // longer knows with 500 InternalError ("failed to acquire lock"), so any
    // failure first looks at what the key holds.
    const done = await alreadyAssembled(deps, key, { size: a.size, version: a.version, etag: multipartEtag(partMd5s) }, signal);
    if (done) return { bytes: a.size, etag: done.etag };
    if (isNoSuchUpload(err)) throw new PermanentError(`${key}: the multipart upload is gone and the file is not there`);
    throw err;
  }
  return { bytes: a.size, etag: await checkAssembled(deps, key, a.size, partMd5s, { signal, permanent: true }) };
}

/**
 * Checks an object just assembled from parts: its size, and its `-N` ETag
 * against the one its parts' MD5s predict. Reads the ETag with HEAD, because
 * not every service returns it from CompleteMultipartUpload (Ceph RGW 16
 * answers an empty one). Returns the object's ETag. `permanent`: a mismatch
 * cannot be fixed by running the same step again (the upload is gone).
 */
export async function checkAssembled(
  deps: Pick<CopyDeps, 'io' | 'bucket'>,
  key: string,
  size: number,
  partMd5s: readonly string[],
  o: { signal?: AbortSignal; permanent?: boolean } = {},
): Promise<string> {
  const head = await deps.io.head(deps.bucket, key, o.signal);
  if (head.length !== size) throw new RetryableError(`${key}: assembled ${head.length} bytes, the source has ${size}`);
  const etag = unquoteEtag(head.etag);
  const want = multipartEtag(partMd5s);
  // A service that names multipart objects differently (s3rver) cannot be checked this way; its parts were.
  // Nor can an encrypted object (SSE-KMS, DSSE, SSE-C): its part ETags, and so its own, are not MD5s.
  const md5Based = etagIsMd5('0'.repeat(32), head.sse, head.sseCustomerAlgorithm);
  if (want && md5Based && isMultipartEtag(etag) && etag !== want) {
    const message = `${key}: the assembled object's ETag ${etag} is not the ${want} its parts' MD5s give; the stored object differs from the parts sent`;
    throw o.permanent ? new PermanentError(message) : new RetryableError(message);
  }
  return etag;
}
