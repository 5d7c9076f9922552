/**
 * Deep audit inside the Lambda: hashes a file's full content on both sides
 * (SHA-256), so that the bytes never cross the daemon.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isNotFound } from '../storage/errors.js';
import type { SourceReader } from '../storage/source-reader.js';
import type { SourceRef } from '../storage/source-root.js';

/** Both sides' content hashes; `dest` is absent when the destination object is missing. */
export interface ContentHashes {
  readonly source: string;
  readonly sourceBytes: number;
  readonly dest?: string;
  readonly destBytes?: number;
}

async function digest(body: Readable): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of body) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { hash: h.digest('hex'), bytes };
}

/** Hashes `ref` at the source and `key` at the destination, concurrently. */
export async function hashBothSides(
  deps: { reader: SourceReader; dest: S3Client; bucket: string },
  ref: SourceRef,
  key: string,
  o: { stallTimeoutMs: number; signal?: AbortSignal },
): Promise<ContentHashes> {
  const source = (async () => digest((await deps.reader.open(ref, { signal: o.signal, timeoutMs: o.stallTimeoutMs })).body))();
  const dest = (async () => {
    try {
      const out = await deps.dest.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }), { abortSignal: o.signal });
      return await digest(out.Body as Readable);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  })();
  const [s, d] = await Promise.all([source, dest]);
  return { source: s.hash, sourceBytes: s.bytes, dest: d?.hash, destBytes: d?.bytes };
}
