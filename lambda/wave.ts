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
  /** GET, HEAD and PUT of each file sent directly, signed by the SDK's signer (default true); false uses the SDK's commands. */
  readonly directIo?: boolean;
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
  /** The failure was back-pressure (429, SlowDown): retry later without using up an attempt. */
  readonly throttled?: boolean;
  /** `hash` waves only: full-content SHA-256 of both sides. */
  readonly hashes?: { source: string; sourceBytes: number; dest?: string; destBytes?: number };
}

/** The Lambda's output: `results[i]` belongs to `jobs[i]`. */
export interface WaveResponse {
  readonly results: JobResult[];
}
