/**
 * What copying a file needs and how it is tuned, shared by copy-file.ts and
 * split-file.ts. Its own module so that split-file.ts need not import
 * copy-file.ts, which starts the splits.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import type { ObjectIo } from '../storage/object-http.js';
import type { SourceReader } from '../storage/source-reader.js';

/** What one copy needs. */
export interface CopyDeps {
  readonly reader: SourceReader;
  readonly dest: S3Client;
  /** Object calls on `dest`: the direct path or the SDK's commands. */
  readonly io: ObjectIo;
  readonly bucket: string;
}

/** Copy tuning. */
export interface CopyOptions {
  readonly multipartThreshold: number;
  readonly partSize: number;
  readonly stallTimeoutMs: number;
  /** Check the destination first and copy nothing when it already holds this version. */
  readonly skipIdentical?: boolean;
  /** The wave's listing found no object at this key, so the destination check is already done. */
  readonly knownAbsent?: boolean;
  /** Larger files are split into ranged part jobs rather than copied here (see split-file.ts). */
  readonly splitThreshold?: number;
  readonly splitPartSize?: number;
  /** S3 can copy this file itself: a source of at least this many bytes is handed back (`serverSide`) instead of streamed. */
  readonly serverSideFrom?: number;
  readonly signal?: AbortSignal;
}
