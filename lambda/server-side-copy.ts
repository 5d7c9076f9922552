/**
 * Server-side copy: when the source and the destination are buckets of the
 * same S3 service, reachable with the same credentials, S3 copies the bytes
 * itself (CopyObject, or UploadPartCopy above 5 GiB) and nothing passes through
 * the worker. The copy records its source version like a streamed one.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isNotFound, NotFoundError, RetryableError } from '../storage/errors.js';
import { unquoteEtag, SOURCE_VERSION_META, sourceVersionMetadata } from '../storage/etag.js';
import type { CopyOutcome } from './copy-file.js';

/** CopyObject's limit; above it, parts are copied one by one. */
const SINGLE_COPY_MAX = 5 * 1024 ** 3;
const MAX_PARTS = 10_000;

const copySource = (bucket: string, key: string) => `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

/** Copies `src` to `dest` inside one S3 service. Throws NotFoundError, or RetryableError on a mismatch. */
export async function serverSideCopy(
  s3: S3Client,
  src: { bucket: string; key: string },
  dest: { bucket: string; key: string },
  o: { partSize: number; skipIdentical?: boolean; signal?: AbortSignal },
): Promise<CopyOutcome> {
  const [head, existing] = await Promise.all([
    s3.send(new HeadObjectCommand({ Bucket: src.bucket, Key: src.key }), { abortSignal: o.signal }).catch((err) => {
      throw isNotFound(err) ? new NotFoundError(`GET ${src.key} answered HTTP 404`, { cause: err }) : err;
    }),
    o.skipIdentical
      ? s3.send(new HeadObjectCommand({ Bucket: dest.bucket, Key: dest.key }), { abortSignal: o.signal }).catch((err) => {
          if (isNotFound(err)) return undefined;
          throw err;
        })
      : Promise.resolve(undefined),
  ]);
  const size = head.ContentLength ?? 0;
  const version = unquoteEtag(head.ETag) || head.LastModified?.toISOString() || '';
  if (existing && existing.ContentLength === size && existing.Metadata?.[SOURCE_VERSION_META] === version) {
    return { bytes: size, etag: unquoteEtag(existing.ETag), unchanged: true };
  }
  const Metadata = sourceVersionMetadata(version);
  let etag: string;
  if (size <= SINGLE_COPY_MAX) {
    const out = await s3.send(
      new CopyObjectCommand({ Bucket: dest.bucket, Key: dest.key, CopySource: copySource(src.bucket, src.key), MetadataDirective: 'REPLACE', Metadata }),
      { abortSignal: o.signal },
    );
    etag = unquoteEtag(out.CopyObjectResult?.ETag);
    // A single-part copy keeps the content MD5 as its ETag: it must equal the source's.
    if (/^[0-9a-f]{32}$/.test(unquoteEtag(head.ETag)) && etag && etag !== unquoteEtag(head.ETag)) {
      throw new RetryableError(`server-side copy of ${src.key}: destination ETag ${etag}, source ${unquoteEtag(head.ETag)}`);
    }
  } else {
    const partSize = Math.max(o.partSize, Math.ceil(size / MAX_PARTS));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: dest.bucket, Key: dest.key, Metadata }), { abortSignal: o.signal });
    try {
      const parts: Array<{ PartNumber: number; ETag?: string }> = [];
      for (let start = 0, n = 1; start < size; start += partSize, n++) {
        const end = Math.min(size, start + partSize) - 1;
        const out = await s3.send(
          new UploadPartCopyCommand({
            Bucket: dest.bucket, Key: dest.key, UploadId, PartNumber: n,
            CopySource: copySource(src.bucket, src.key), CopySourceRange: `bytes=${start}-${end}`, CopySourceIfMatch: head.ETag,
          }),
          { abortSignal: o.signal },
        );
        parts.push({ PartNumber: n, ETag: out.CopyPartResult?.ETag });
      }
      const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket: dest.bucket, Key: dest.key, UploadId, MultipartUpload: { Parts: parts } }), {
        abortSignal: o.signal,
      });
      etag = unquoteEtag(done.ETag);
    } catch (err) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: dest.bucket, Key: dest.key, UploadId })).catch(() => undefined);
      throw err;
    }
  }
  const check = await s3.send(new HeadObjectCommand({ Bucket: dest.bucket, Key: dest.key }), { abortSignal: o.signal });
  if (check.ContentLength !== size) {
    throw new RetryableError(`server-side copy of ${src.key}: ${check.ContentLength} bytes arrived of ${size}`);
  }
  // Ceph RGW 16 answers CompleteMultipartUpload with an empty ETag; HEAD has it.
  return { bytes: size, etag: etag || unquoteEtag(check.ETag) };
}
