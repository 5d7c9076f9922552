/**
 * Copies one file from the source to the destination as a stream, verifying
 * length and MD5 against what the destination (and an S3 source) report.
 * Large or unsized files go multipart; memory stays at one part per file.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { isNotFound, RetryableError } from '../storage/errors.js';
import { etagIsMd5, SOURCE_VERSION_META, sourceVersionMetadata, unquoteEtag } from '../storage/etag.js';
import type { ObjectInfo } from '../storage/object-http.js';
import type { CopyDeps, CopyOptions } from './copy-deps.js';
import { checkAssembled, startSplit } from './split-file.js';
import { guardBody, relay, VerifyingStall } from './verify-stream.js';
import type { SplitPlan } from './wave.js';
import type { SourceRef } from '../storage/source-root.js';

/** A verified copy, or a destination found already identical. */
export interface CopyOutcome {
  readonly bytes: number;
  readonly etag: string;
  /** True when the destination already held this version and nothing was copied. */
  readonly unchanged?: boolean;
  /** The file was split, not copied: its parts are still to copy. */
  readonly split?: SplitPlan;
  /** Nothing was copied: the file is large enough for S3 to copy it itself (see `serverSideFrom`). */
  readonly serverSide?: true;
}


/** True when `head` already holds the source version described by `src`. */
function sameVersion(head: ObjectInfo, src: { length?: number; md5?: string; version?: string }): boolean {
  if (src.length === undefined || head.length !== src.length) return false;
  const recorded = head.metadata[SOURCE_VERSION_META];
  if (recorded && src.version) return recorded === src.version;
  // Copies made by other tools carry no metadata; a matching content MD5 still proves them identical.
  return src.md5 !== undefined && unquoteEtag(head.etag) === src.md5;
}


/** Copies `ref` to `key`, streaming. Throws PermanentError or RetryableError. */
export async function copyFile(deps: CopyDeps, ref: SourceRef, key: string, o: CopyOptions): Promise<CopyOutcome> {
  // The destination check runs alongside the source request, so it costs no latency.
  const head = o.skipIdentical && !o.knownAbsent
    ? deps.io.head(deps.bucket, key, o.signal).catch((err) => {
        if (isNotFound(err)) return undefined;
        throw err;
      })
    : Promise.resolve(undefined);
  // The check can fail (a reset, a 5xx) before the source answers, while
  // nothing awaits it yet: unmarked, that rejection counts as unhandled, which
  // ends the process (in the local endpoint, the worker and every invocation
  // on it). It is still awaited and reported below.
  head.catch(() => undefined);
  const src = await deps.reader.open(ref, { signal: o.signal, timeoutMs: o.stallTimeoutMs }).catch(async (err) => {
    await head.catch(() => undefined);
    throw err;
  });
  // The body may fail while the destination check is still out, before
  // anything consumes it; an 'error' with no listener would kill the process.
  // relay() later sees the stream already errored and reports it.
  src.body.on('error', () => undefined);
  const existing = await head.catch((err) => {
    src.body.destroy();
    throw err;
  });
  if (existing && sameVersion(existing, src)) {
    src.body.destroy();
    return { bytes: src.length ?? 0, etag: unquoteEtag(existing.etag), unchanged: true };
  }
  // The GET's length decides: small files stream (fewer requests), large ones S3 copies itself.
  if (o.serverSideFrom !== undefined && src.length !== undefined && src.length >= o.serverSideFrom) {
    src.body.destroy();
    return { bytes: 0, etag: '', serverSide: true };
  }
  if (o.splitThreshold !== undefined && src.length !== undefined && src.length > o.splitThreshold) {
    src.body.destroy();
    const split = await startSplit(deps, key, { length: src.length, version: src.version }, { ...o, splitPartSize: o.splitPartSize ?? o.partSize });
    return { bytes: 0, etag: '', split };
  }
  const metadata = sourceVersionMetadata(src.version);
  if (src.length === undefined || src.length > o.multipartThreshold) {
    return copyMultipart(deps, src.body, src.length, key, o, metadata);
  }
  // When the source vouches for the content MD5, the destination checks the
  // bytes against it (Content-MD5) and this worker need not hash them at all.
  const contentMd5 = src.md5 ? Buffer.from(src.md5, 'hex').toString('base64') : undefined;
  const body = guardBody(src.body, { stallTimeoutMs: o.stallTimeoutMs, hash: !contentMd5, signal: o.signal });
  const { guard } = body;
  let etag: string;
  let destIsMd5 = false;
  try {
    const out = await deps.io.put(deps.bucket, key, guard, { length: src.length, contentMd5, metadata, signal: body.signal });
    etag = unquoteEtag(out.etag);
    destIsMd5 = etagIsMd5(etag, out.sse, out.sseCustomerAlgorithm);
  } catch (err) {
    throw body.error ?? err;
  } finally {
    body.done();
  }
  if (body.error) throw body.error;
  if (guard.bytes !== src.length) {
    throw new RetryableError(`length mismatch for ${ref.path}: source said ${src.length} bytes, ${guard.bytes} arrived`);
  }
  const md5 = contentMd5 ? (src.md5 as string) : guard.md5.digest('hex');
  if (destIsMd5 && etag !== md5) {
    throw new RetryableError(`checksum mismatch for ${ref.path}: destination ETag ${etag}, ${contentMd5 ? 'source' : 'streamed'} MD5 ${md5}`);
  }
  if (!contentMd5 && src.md5 && src.md5 !== md5) {
    throw new RetryableError(`checksum mismatch for ${ref.path}: source ETag ${src.md5}, streamed MD5 ${md5}`);
  }
  return { bytes: guard.bytes, etag };
}

/** Reads `body` into parts of `partSize` and uploads each, verifying every part's MD5. */
async function copyMultipart(
  deps: CopyDeps,
  body: Readable,
  length: number | undefined,
  key: string,
  o: CopyOptions,
  metadata: Record<string, string> | undefined,
): Promise<CopyOutcome> {
  const guard = new VerifyingStall(o.stallTimeoutMs);
  let streamError: Error | undefined;
  relay(body, guard, (err) => {
    streamError = err;
  });
  // On failure the source is released at once: unpiped from a destroyed
  // guard it would otherwise hold its connection until the origin times out.
  const release = () => {
    body.destroy();
    guard.destroy();
  };
  const { UploadId } = await deps.dest
    .send(new CreateMultipartUploadCommand({ Bucket: deps.bucket, Key: key, Metadata: metadata }), { abortSignal: o.signal })
    .catch((err) => {
      release();
      throw err;
    });
  const parts: Array<{ PartNumber: number; ETag: string }> = [];
  const partMd5s: string[] = [];
  const upload = async (chunks: Buffer[]): Promise<void> => {
    const part = Buffer.concat(chunks);
    const PartNumber = parts.length + 1;
    const out = await deps.dest.send(
      new UploadPartCommand({ Bucket: deps.bucket, Key: key, UploadId, PartNumber, Body: part, ContentLength: part.length }),
      { abortSignal: o.signal },
    );
    const etag = unquoteEtag(out.ETag);
    const md5 = createHash('md5').update(part).digest('hex');
    if (etagIsMd5(etag, out.ServerSideEncryption, out.SSECustomerAlgorithm) && etag !== md5) {
      throw new RetryableError(`part ${PartNumber} of ${key} checksum mismatch: ETag ${etag}, MD5 ${md5}`);
    }
    parts.push({ PartNumber, ETag: out.ETag ?? etag });
    partMd5s.push(md5);
  };
  try {
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    for await (const chunk of guard) {
      let buf = chunk as Buffer;
      while (pendingBytes + buf.length >= o.partSize) {
        const take = o.partSize - pendingBytes;
        pending.push(buf.subarray(0, take));
        await upload(pending);
        buf = buf.subarray(take);
        pending = [];
        pendingBytes = 0;
      }
      if (buf.length) {
        pending.push(buf);
        pendingBytes += buf.length;
      }
    }
    if (streamError) throw streamError;
    // S3 needs at least one part, even for an empty unsized body.
    if (pendingBytes > 0 || parts.length === 0) await upload(pending);
    if (length !== undefined && guard.bytes !== length) {
      throw new RetryableError(`length mismatch for ${key}: source said ${length} bytes, ${guard.bytes} arrived`);
    }
    await deps.dest.send(
      new CompleteMultipartUploadCommand({ Bucket: deps.bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }),
      { abortSignal: o.signal },
    );
    const etag = await checkAssembled(deps, key, guard.bytes, partMd5s, { signal: o.signal });
    return { bytes: guard.bytes, etag };
  } catch (err) {
    release();
    await deps.dest
      .send(new AbortMultipartUploadCommand({ Bucket: deps.bucket, Key: key, UploadId }))
      .catch(() => undefined);
    throw streamError ?? err;
  }
}
