/**
 * Loads flants configuration from environment variables, validates it once,
 * and fails with a message that names the offending variable.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { natsSettings, type NatsSettings } from '../streams/connect-nats.js';
import { parseBytes, parseDuration } from './durations.js';
import { parseS3Location, parseSourceLocation, type S3Location, type SourceLocation } from './locations.js';
import { MAX_FILES_PER_CLASS } from '../streams/messages.js';

/** Connection details for one S3-compatible service. Credentials come from the SDK chain unless given. */
export interface S3Endpoint {
  readonly endpoint?: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
  /** Explicit static credentials; only the source may carry them (often another provider). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
}

/** The validated configuration every part of flants receives. */
export interface FlantsConfig {
  readonly natsUrl: string;
  /** Authentication and TLS for NATS (NATS_USER, NATS_TOKEN, NATS_CREDS, NATS_TLS_*). */
  readonly nats: NatsSettings;
  /** Prefix applied to every subject, stream, consumer and KV bucket; empty in production. */
  readonly namespace: string;
  readonly source: SourceLocation;
  /** Extra roots playlists may reference (FLANTS_SOURCE_ALLOW); everything else is refused. */
  readonly sourceAllow: readonly string[];
  readonly sourceS3: S3Endpoint;
  readonly dest: S3Location;
  readonly destS3: S3Endpoint;
  readonly lambda: {
    readonly functionName: string;
    readonly endpoint?: string;
    readonly region: string;
    /** Local endpoint only: invocations served at once before answering 429. */
    readonly localConcurrency: number;
    /** Local endpoint only: per-invocation time budget, like the function timeout on AWS. */
    readonly localTimeoutMs: number;
  };
  readonly batchSize: number;
  readonly batchWaitMs: number;
  readonly waveConcurrency: number;
  readonly maxAttempts: number;
  readonly retryBackoffMs: readonly number[];
  readonly ackWaitMs: number;
  /** Bulk lane: transfer jobs queued at most, and files of one class enqueued per turn. */
  readonly flow: { readonly maxQueuedJobs: number; readonly classSlice: number };
  /** A throttled file goes round at most this many times, or for this long, then fails with reason `throttled`. */
  readonly throttle: { readonly maxRounds: number; readonly maxMs: number };
  readonly manifestTemplate: string;
  readonly keepQuery: boolean;
  readonly reportPrefix: string;
  readonly recordedMaxAgeMs: number;
  /** Replicas of each stream and KV bucket: 3 on a JetStream cluster. */
  readonly streamReplicas: number;
  readonly transfer: {
    readonly multipartThreshold: number;
    readonly partSize: number;
    readonly fileConcurrency: number;
    readonly stallTimeoutMs: number;
    readonly skipIdentical: boolean;
    readonly serverSideCopy: boolean;
    readonly directIo: boolean;
    /** Files larger than this are split into ranged parts, each its own job, assembled by multipart upload. */
    readonly splitThreshold: number;
    /** Bytes per ranged part job of a split file. */
    readonly splitPartSize: number;
  };
  readonly live: {
    /** `recrawl` waits for EXT-X-ENDLIST, crawling again every interval; `incomplete` reports what is there. */
    readonly policy: 'recrawl' | 'incomplete';
    readonly recrawlIntervalMs: number;
    /** A recording still live after this long is reported incomplete. */
    readonly maxWaitMs: number;
  };
  readonly crawl: {
    readonly maxPlaylistBytes: number;
    /** All playlists of one class together: bounds the crawler's memory per class. */
    readonly maxClassPlaylistBytes: number;
    readonly maxDepth: number;
    readonly maxFiles: number;
    readonly concurrency: number;
  };
  readonly discovery: {
    /** Entry playlists to treat as classes when listing a bucket or index; defaults to the manifest template. */
    readonly pattern: string;
    /** HTTP origins: an index file listing entry playlists, relative to the source root. */
    readonly indexPath: string;
  };
  /** The MongoDB catalogue; absent when MONGODB_URL is not set. */
  readonly catalogue?: {
    readonly url: string;
    readonly db?: string;
    readonly collection: string;
    readonly filter: Record<string, unknown>;
    readonly fields: { classId: string; manifest: string; recordedAt: string; updatedAt: string; test: string; status: string };
    readonly skipStatuses: readonly string[];
    readonly requireManifest: boolean;
    readonly batchSize: number;
    /** Follow the collection's change stream in the daemon's scanner (replica sets only). */
    readonly watch: boolean;
  };
  readonly metrics: {
    readonly enabled: boolean;
    /** 0 picks a free port. */
    readonly port: number;
    readonly host: string;
  };
  readonly dashboard: {
    readonly enabled: boolean;
    /** 0 picks a free port. */
    readonly port: number;
    readonly host: string;
    readonly token?: string;
  };
  readonly logLevel: string;
}

const boolText = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v));
const positiveInt = z.coerce.number().int().positive();
const duration = z.string().transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const bytes = z.string().transform((v, ctx) => {
  try {
    return parseBytes(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const url = z.string().url();

/** Every variable flants reads, with its default. The README's config table mirrors this. */
const envSchema = z.object({
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  FLANTS_NAMESPACE: z.string().regex(/^[A-Za-z0-9_-]*$/, 'letters, digits, "_" and "-" only').default(''),
  FLANTS_SOURCE: z.string({ error: 'is required (s3://bucket/prefix or https://origin/prefix)' }),
  FLANTS_SOURCE_ENDPOINT: url.optional(),
  FLANTS_SOURCE_ALLOW: z.string().optional(),
  FLANTS_LIVE: z.enum(['recrawl', 'incomplete']).default('recrawl'),
  FLANTS_LIVE_RECRAWL_INTERVAL: duration.default(30_000),
  FLANTS_LIVE_MAX_WAIT: duration.default(6 * 3_600_000),
  FLANTS_SOURCE_REGION: z.string().optional(),
  FLANTS_SOURCE_ACCESS_KEY_ID: z.string().optional(),
  FLANTS_SOURCE_SECRET_ACCESS_KEY: z.string().optional(),
  FLANTS_SOURCE_SESSION_TOKEN: z.string().optional(),
  FLANTS_DEST: z.string({ error: 'is required (s3://bucket/prefix)' }),
  FLANTS_DEST_ENDPOINT: url.optional(),
  FLANTS_DEST_REGION: z.string().optional(),
  FLANTS_S3_FORCE_PATH_STYLE: boolText.optional(),
  AWS_REGION: z.string().default('us-east-1'),
  FLANTS_LAMBDA: z.string().min(1).default('local'),
  FLANTS_LAMBDA_ENDPOINT: url.optional(),
  FLANTS_LAMBDA_CONCURRENCY: positiveInt.default(32),
  FLANTS_LAMBDA_TIMEOUT: duration.default(300_000),
  FLANTS_BATCH_SIZE: positiveInt.max(10_000).default(100),
  FLANTS_BATCH_WAIT: duration.default(200),
  FLANTS_WAVE_CONCURRENCY: positiveInt.default(16),
  FLANTS_MAX_ATTEMPTS: positiveInt.max(100).default(3),
  FLANTS_RETRY_BACKOFF: z.string().default('1s,5s,30s'),
  FLANTS_ACK_WAIT: duration.default(10_000),
  FLANTS_THROTTLE_MAX_ROUNDS: positiveInt.max(10_000).default(50),
  FLANTS_MAX_QUEUED_JOBS: positiveInt.default(20_000),
  FLANTS_CLASS_SLICE: positiveInt.default(2_000),
  FLANTS_THROTTLE_MAX_TIME: duration.default(10 * 60_000),
  FLANTS_MANIFEST_TEMPLATE: z.string().includes('{classId}', { message: 'must contain {classId}' }).default('{classId}/master.m3u8'),
  FLANTS_KEEP_QUERY: boolText.default(false),
  FLANTS_REPORT_PREFIX: z.string().default('_flants/reports/'),
  FLANTS_RECORDED_MAX_AGE: duration.default(0),
  FLANTS_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  FLANTS_MULTIPART_THRESHOLD: bytes.default(64 * 1024 * 1024),
  FLANTS_PART_SIZE: bytes.default(16 * 1024 * 1024),
  FLANTS_FILE_CONCURRENCY: positiveInt.max(256).default(16),
  FLANTS_STALL_TIMEOUT: duration.default(30_000),
  FLANTS_SKIP_IDENTICAL: boolText.default(true),
  FLANTS_SERVER_SIDE_COPY: boolText.default(true),
  FLANTS_S3_DIRECT_IO: boolText.default(true),
  FLANTS_SPLIT_THRESHOLD: bytes.default(1024 * 1024 * 1024),
  FLANTS_SPLIT_PART_SIZE: bytes.default(128 * 1024 * 1024),
  FLANTS_MAX_PLAYLIST_BYTES: bytes.default(4 * 1024 * 1024),
  FLANTS_MAX_CLASS_PLAYLIST_BYTES: bytes.default(64 * 1024 * 1024),
  FLANTS_MAX_DEPTH: positiveInt.default(4),
  FLANTS_MAX_FILES_PER_CLASS: positiveInt.max(MAX_FILES_PER_CLASS).default(200_000),
  FLANTS_CRAWL_CONCURRENCY: positiveInt.max(256).default(8),
  FLANTS_DISCOVER_PATTERN: z.string().includes('{classId}', { message: 'must contain {classId}' }).optional(),
  FLANTS_DISCOVER_INDEX: z.string().default('index.txt'),
  MONGODB_URL: z.string().regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URL').optional(),
  FLANTS_MONGO_DB: z.string().optional(),
  FLANTS_MONGO_COLLECTION: z.string().default('classes'),
  FLANTS_MONGO_FILTER: z.string().default('{"status":"broadcast"}'),
  FLANTS_MONGO_FIELDS: z.string().default('{}'),
  FLANTS_SKIP_STATUSES: z.string().default('aborted,test,cancelled'),
  FLANTS_REQUIRE_MANIFEST: boolText.default(true),
  FLANTS_MONGO_BATCH: positiveInt.default(1_000),
  FLANTS_MONGO_WATCH: boolText.default(true),
  FLANTS_METRICS: boolText.default(true),
  FLANTS_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).default(9464),
  FLANTS_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  FLANTS_DASHBOARD: boolText.default(true),
  FLANTS_DASHBOARD_PORT: z.coerce.number().int().min(0).max(65_535).default(8787),
  FLANTS_DASHBOARD_HOST: z.string().min(1).default('127.0.0.1'),
  FLANTS_DASHBOARD_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Thrown when configuration is invalid; its message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function fail(variable: string, message: string): never {
  throw new ConfigError(`${variable} ${message}`);
}

/** Reads an optional `KEY=value` file named by FLANTS_CONFIG_FILE; the environment wins over it. */
function readConfigFile(env: NodeJS.ProcessEnv): Record<string, string> {
  const file = env.FLANTS_CONFIG_FILE;
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return fail('FLANTS_CONFIG_FILE', `cannot be read: ${(err as Error).message}`);
  }
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) fail('FLANTS_CONFIG_FILE', `line ${i + 1} is not KEY=value`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return out;
}

/** Loads and validates configuration from `env` (default: process.env). Throws ConfigError. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): FlantsConfig {
  const merged: Record<string, string | undefined> = { ...readConfigFile(env) };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;
  const parsed = envSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${String(i.path[0] ?? 'config')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  let source: SourceLocation;
  let dest: S3Location;
  try {
    source = parseSourceLocation(e.FLANTS_SOURCE, 'FLANTS_SOURCE');
    dest = parseS3Location(e.FLANTS_DEST, 'FLANTS_DEST');
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if ((e.FLANTS_SOURCE_ACCESS_KEY_ID === undefined) !== (e.FLANTS_SOURCE_SECRET_ACCESS_KEY === undefined)) {
    fail('FLANTS_SOURCE_ACCESS_KEY_ID', 'and FLANTS_SOURCE_SECRET_ACCESS_KEY must be set together');
  }
  if (e.FLANTS_PART_SIZE < 5 * 1024 * 1024) fail('FLANTS_PART_SIZE', 'must be at least 5MiB (the S3 minimum part size)');
  if (e.FLANTS_SPLIT_PART_SIZE < 5 * 1024 * 1024) fail('FLANTS_SPLIT_PART_SIZE', 'must be at least 5MiB (the S3 minimum part size)');
  if (e.FLANTS_SPLIT_THRESHOLD < e.FLANTS_SPLIT_PART_SIZE) fail('FLANTS_SPLIT_THRESHOLD', 'must be at least FLANTS_SPLIT_PART_SIZE');
  if (e.FLANTS_MULTIPART_THRESHOLD < e.FLANTS_PART_SIZE) {
    fail('FLANTS_MULTIPART_THRESHOLD', 'must be at least FLANTS_PART_SIZE');
  }
  let backoff: number[];
  try {
    backoff = e.FLANTS_RETRY_BACKOFF.split(',').map((s) => parseDuration(s));
  } catch (err) {
    return fail('FLANTS_RETRY_BACKOFF', (err as Error).message);
  }
  const reportPrefix = e.FLANTS_REPORT_PREFIX.endsWith('/') ? e.FLANTS_REPORT_PREFIX : `${e.FLANTS_REPORT_PREFIX}/`;
  if (reportPrefix.startsWith('/') || reportPrefix.split('/').includes('..')) {
    fail('FLANTS_REPORT_PREFIX', 'must be a relative key prefix without ".."');
  }
  const sourceAllow: string[] = [];
  for (const entry of (e.FLANTS_SOURCE_ALLOW ?? '').split(',').map((x) => x.trim()).filter(Boolean)) {
    try {
      const loc = parseSourceLocation(entry, 'FLANTS_SOURCE_ALLOW');
      sourceAllow.push(loc.kind === 's3' ? `s3://${loc.bucket}/${loc.prefix}` : loc.root);
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
  }
  const json = (variable: string, text: string): Record<string, unknown> => {
    try {
      const v = JSON.parse(text) as unknown;
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
      return v as Record<string, unknown>;
    } catch (err) {
      return fail(variable, `must be a JSON object: ${(err as Error).message}`);
    }
  };
  const fieldOverrides = json('FLANTS_MONGO_FIELDS', e.FLANTS_MONGO_FIELDS);
  for (const [k, v] of Object.entries(fieldOverrides)) {
    if (!['classId', 'manifest', 'recordedAt', 'updatedAt', 'test', 'status'].includes(k) || typeof v !== 'string') {
      fail('FLANTS_MONGO_FIELDS', `has an unknown key or a non-string value at ${JSON.stringify(k)} (keys: classId, manifest, recordedAt, updatedAt, test, status)`);
    }
  }
  const catalogue = e.MONGODB_URL
    ? {
        url: e.MONGODB_URL,
        db: e.FLANTS_MONGO_DB,
        collection: e.FLANTS_MONGO_COLLECTION,
        filter: json('FLANTS_MONGO_FILTER', e.FLANTS_MONGO_FILTER),
        fields: { classId: '_id', manifest: 'manifest', recordedAt: 'recordedAt', updatedAt: 'updatedAt', test: 'test', status: 'status', ...(fieldOverrides as Record<string, string>) },
        skipStatuses: e.FLANTS_SKIP_STATUSES.split(',').map((x) => x.trim()).filter(Boolean),
        requireManifest: e.FLANTS_REQUIRE_MANIFEST,
        batchSize: e.FLANTS_MONGO_BATCH,
        watch: e.FLANTS_MONGO_WATCH,
      }
    : undefined;
  const pathStyle = (endpoint: string | undefined) => e.FLANTS_S3_FORCE_PATH_STYLE ?? endpoint !== undefined;
  let nats: NatsSettings;
  try {
    nats = natsSettings({ ...merged, NATS_URL: e.NATS_URL });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return {
    natsUrl: e.NATS_URL,
    nats,
    namespace: e.FLANTS_NAMESPACE,
    source,
    sourceAllow,
    sourceS3: {
      endpoint: e.FLANTS_SOURCE_ENDPOINT,
      region: e.FLANTS_SOURCE_REGION ?? e.AWS_REGION,
      forcePathStyle: pathStyle(e.FLANTS_SOURCE_ENDPOINT),
      credentials: e.FLANTS_SOURCE_ACCESS_KEY_ID && e.FLANTS_SOURCE_SECRET_ACCESS_KEY
        ? {
            accessKeyId: e.FLANTS_SOURCE_ACCESS_KEY_ID,
            secretAccessKey: e.FLANTS_SOURCE_SECRET_ACCESS_KEY,
            sessionToken: e.FLANTS_SOURCE_SESSION_TOKEN,
          }
        : undefined,
    },
    dest,
    destS3: {
      endpoint: e.FLANTS_DEST_ENDPOINT,
      region: e.FLANTS_DEST_REGION ?? e.AWS_REGION,
      forcePathStyle: pathStyle(e.FLANTS_DEST_ENDPOINT),
    },
    lambda: {
      functionName: e.FLANTS_LAMBDA,
      endpoint: e.FLANTS_LAMBDA_ENDPOINT,
      region: e.AWS_REGION,
      localConcurrency: e.FLANTS_LAMBDA_CONCURRENCY,
      localTimeoutMs: e.FLANTS_LAMBDA_TIMEOUT,
    },
    batchSize: e.FLANTS_BATCH_SIZE,
    batchWaitMs: e.FLANTS_BATCH_WAIT,
    waveConcurrency: e.FLANTS_WAVE_CONCURRENCY,
    maxAttempts: e.FLANTS_MAX_ATTEMPTS,
    retryBackoffMs: backoff,
    ackWaitMs: e.FLANTS_ACK_WAIT,
    throttle: { maxRounds: e.FLANTS_THROTTLE_MAX_ROUNDS, maxMs: e.FLANTS_THROTTLE_MAX_TIME },
    flow: { maxQueuedJobs: e.FLANTS_MAX_QUEUED_JOBS, classSlice: e.FLANTS_CLASS_SLICE },
    manifestTemplate: e.FLANTS_MANIFEST_TEMPLATE,
    keepQuery: e.FLANTS_KEEP_QUERY,
    reportPrefix,
    recordedMaxAgeMs: e.FLANTS_RECORDED_MAX_AGE,
    streamReplicas: e.FLANTS_STREAM_REPLICAS,
    transfer: {
      multipartThreshold: e.FLANTS_MULTIPART_THRESHOLD,
      partSize: e.FLANTS_PART_SIZE,
      fileConcurrency: e.FLANTS_FILE_CONCURRENCY,
      stallTimeoutMs: e.FLANTS_STALL_TIMEOUT,
      skipIdentical: e.FLANTS_SKIP_IDENTICAL,
      serverSideCopy: e.FLANTS_SERVER_SIDE_COPY,
      directIo: e.FLANTS_S3_DIRECT_IO,
      splitThreshold: e.FLANTS_SPLIT_THRESHOLD,
      splitPartSize: e.FLANTS_SPLIT_PART_SIZE,
    },
    live: {
      policy: e.FLANTS_LIVE,
      recrawlIntervalMs: e.FLANTS_LIVE_RECRAWL_INTERVAL,
      maxWaitMs: e.FLANTS_LIVE_MAX_WAIT,
    },
    crawl: {
      maxPlaylistBytes: e.FLANTS_MAX_PLAYLIST_BYTES,
      maxClassPlaylistBytes: e.FLANTS_MAX_CLASS_PLAYLIST_BYTES,
      maxDepth: e.FLANTS_MAX_DEPTH,
      maxFiles: e.FLANTS_MAX_FILES_PER_CLASS,
      concurrency: e.FLANTS_CRAWL_CONCURRENCY,
    },
    discovery: { pattern: e.FLANTS_DISCOVER_PATTERN ?? e.FLANTS_MANIFEST_TEMPLATE, indexPath: e.FLANTS_DISCOVER_INDEX },
    catalogue,
    metrics: { enabled: e.FLANTS_METRICS, port: e.FLANTS_METRICS_PORT, host: e.FLANTS_METRICS_HOST },
    dashboard: { enabled: e.FLANTS_DASHBOARD, port: e.FLANTS_DASHBOARD_PORT, host: e.FLANTS_DASHBOARD_HOST, token: e.FLANTS_DASHBOARD_TOKEN },
    logLevel: e.LOG_LEVEL,
  };
}
