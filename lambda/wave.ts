/**
 * The contract between the dispatcher and the transfer Lambda: one wave of jobs
 * in, one result per job out, aligned by position.
 */
import type { SourceLocation, S3Location } from '../config/locations.js';

/** Where the Lambda reads from and how to reach it. Never carries credentials. */
export interface WaveSource {
  readonly location: SourceLocation;
  /** Allow-listed extra roots; the handler re-checks every job against them and the location. */
  readonly allow?: readonly string[];
  readonly endpoint?: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
}

/** Where the Lambda writes to. Credentials come from the function's own role. */
export interface WaveDest {
  readonly location: S3Location;
  readonly endpoint?: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
}

/** One file to copy. */
export interface WaveJob {
  /** Source reference relative to the source root (percent-encoded, query kept). */
  readonly src: string;
  /** Destination key relative to the destination prefix. */
  readonly key: string;
  /** May be missing (EXT-X-GAP, preload hint): a missing file then succeeds with nothing copied. */
  readonly optional?: boolean;
  /** Copy only this ranged part of a split file into its multipart upload. */
  readonly part?: FilePart;
  /** Complete a split file's multipart upload from these parts. */
  readonly assemble?: FileAssembly;
}

/** A split file whose parts are all uploaded. */
export interface FileAssembly {
  readonly uploadId: string;
  readonly size: number;
  readonly version?: string;
  readonly parts: ReadonlyArray<{ readonly n: number; readonly etag: string }>;
}

/** One ranged part of a split file: bytes [start, end) become S3 part `n` of `count`. */
export interface FilePart {
  readonly uploadId: string;
  readonly n: number;
  readonly count: number;
  readonly start: number;
  readonly end: number;
  readonly size: number;
  readonly version?: string;
}

/** A file too large for one job: its multipart upload is open, and these parts remain to copy. */
export interface SplitPlan {
  readonly uploadId: string;
  readonly size: number;
  readonly version?: string;
  readonly parts: ReadonlyArray<{ readonly n: number; readonly start: number; readonly end: number }>;
}

/** Tuning that travels with each wave so that one function serves any daemon. */
export interface WaveOptions {
  readonly multipartThreshold: number;
  readonly partSize: number;
  readonly fileConcurrency: number;
  readonly stallTimeoutMs: number;
  /** Skip files the destination already holds in the same version (size plus ETag or recorded source version). */
  readonly skipIdentical?: boolean;
  /** Let S3 copy the bytes itself when source and destination are the same service (default true). */
  readonly serverSideCopy?: boolean;
  /**
   * Files smaller than this are streamed even where server-side copy applies
   * (default 8 MiB): a copy inside S3 costs more requests than a GET and a PUT,
   * and only pays for large files (see README, server-side copy).
   */
  readonly serverSideMinBytes?: number;
  /** GET, HEAD and PUT of each file sent directly, signed by the SDK's signer (default true); false uses the SDK's commands. */
  readonly directIo?: boolean;
  /** Files larger than this are not copied but split (the result carries a SplitPlan). Default: never. */
  readonly splitThreshold?: number;
  readonly splitPartSize?: number;
}

/** The Lambda's input. */
export interface WaveRequest {
  /** `copy` (default) copies each job; `hash` hashes both sides of each job for a deep audit. */
  readonly op?: 'copy' | 'hash';
  readonly source: WaveSource;
  readonly dest: WaveDest;
  readonly jobs: readonly WaveJob[];
  readonly options: WaveOptions;
}

/** One job's outcome. */
export interface JobResult {
  readonly ok: boolean;
  readonly bytes: number;
  readonly etag?: string;
  readonly ms: number;
  readonly error?: string;
  readonly retryable?: boolean;
  /** Set when an optional file was missing and deliberately not copied. */
  readonly skipped?: string;
  /** The destination already held this version; nothing was copied. */
  readonly unchanged?: boolean;
  /** How the bytes moved: through the worker (`stream`) or inside S3 (`server-side`). */
  readonly method?: 'stream' | 'server-side';
  /** The file was split instead of copied: the dispatcher queues one job per part. */
  readonly split?: SplitPlan;
  /** A part job's part is uploaded, with its ETag for the assembly. */
  readonly part?: { readonly n: number; readonly etag: string };
  /** The failure was back-pressure (429, SlowDown): retry later without using up an attempt. */
  readonly throttled?: boolean;
  /** `hash` waves only: full-content SHA-256 of both sides. */
  readonly hashes?: { source: string; sourceBytes: number; dest?: string; destBytes?: number };
}

/** The Lambda's output: `results[i]` belongs to `jobs[i]`. */
export interface WaveResponse {
  readonly results: JobResult[];
}
