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
import { MAX_LATER_MS } from '../streams/outcome-policy.js';

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
  /** Bounds on queued work: transfer jobs per lane, files per turn, and aggregator events before a scan's next class waits. */
  readonly flow: { readonly maxQueuedJobs: number; readonly classSlice: number; readonly maxAggregatorBacklog: number };
  /** A throttled file goes round at most this many times, or for this long, then fails with reason `throttled`. */
  readonly throttle: { readonly maxRounds: number; readonly maxMs: number };
  readonly manifestTemplate: string;
  readonly keepQuery: boolean;
  readonly reportPrefix: string;
  readonly recordedMaxAgeMs: number;
  /** Replicas of each stream and KV bucket: 3 on a JetStream cluster. */
  readonly streamReplicas: number;
  /**
   * Replicas of the buckets written with compare-and-set (class state, split-file parts).
   * 1 by default; more is refused before nats-server 2.11, where a replicated stream can
   * accept two compare-and-set writes made against the same revision (nats-server#4320, #6194).
   */
  readonly stateReplicas: number;
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
    /**
     * A recording whose files have not changed for this long is reported
     * incomplete: its recorder stopped without writing EXT-X-ENDLIST. 0: never.
     */
    readonly staleAfterMs: number;
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

const boolText = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }).transform((v) => ['true', '1', 'yes'].includes(v));

/** A whole number in [min, max], with flants' own words rather than zod's (`expected number, received NaN`). */
function intSetting(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.string().transform((v, ctx) => {
    const n = Number(v.trim());
    if (v.trim() === '' || !Number.isInteger(n)) {
      ctx.addIssue({ code: 'custom', message: `must be a whole number, not ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    if (n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
      ctx.addIssue({ code: 'custom', message: `must be ${range}, not ${n}` });
      return z.NEVER;
    }
    return n;
  });
}
const positiveInt = intSetting(1);

/** A duration with a unit; `positive` refuses zero where zero cannot work (an ack wait, a timeout). */
function durationSetting(o: { positive: boolean }) {
  return z.string().transform((v, ctx) => {
    try {
      const ms = parseDuration(v);
      if (o.positive && ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `must be longer than 0 (write e.g. 30s)` });
        return z.NEVER;
      }
      return ms;
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}
const duration = durationSetting({ positive: false });
const positiveDuration = durationSetting({ positive: true });
const bytes = z.string().transform((v, ctx) => {
  try {
    const n = parseBytes(v);
    if (n <= 0) {
      ctx.addIssue({ code: 'custom', message: 'must be larger than 0 (write e.g. 64MiB)' });
      return z.NEVER;
    }
    return n;
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const url = z.string().url({ error: (i) => `must be a URL such as http://127.0.0.1:9000, not ${JSON.stringify(i.input)}` });
const port = intSetting(0, 65_535);

/**
 * NATS_URL: one server, or several separated by commas, each `nats://host:port`
 * (also tls://, ws://, wss://) or a bare `host:port`.
 */
const natsUrl = z.string().superRefine((v, ctx) => {
  for (const entry of v.split(',').map((x) => x.trim())) {
    const withScheme = /^[a-z]+:\/\//i.test(entry) ? entry : `nats://${entry}`;
    let ok = /^(nats|tls|ws|wss):\/\//i.test(withScheme) && !/\s/.test(entry) && entry !== '';
    if (ok) {
      try {
        ok = new URL(withScheme).hostname !== '';
      } catch {
        ok = false;
      }
    }
    // Never echo credentials: everything up to the last "@" is dropped from the message.
    const shown = entry.includes('@') ? `…@${entry.slice(entry.lastIndexOf('@') + 1)}` : entry;
    if (!ok) ctx.addIssue({ code: 'custom', message: `is not a NATS server URL: ${JSON.stringify(shown)} (write e.g. nats://127.0.0.1:4222)` });
  }
});

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every variable flants reads, with its default. The README's config table mirrors this. */
const envSchema = z.object({
  NATS_URL: natsUrl.default('nats://127.0.0.1:4222'),
  FLANTS_NAMESPACE: z.string().regex(/^[A-Za-z0-9_-]*$/, 'may hold only letters, digits, "_" and "-"').default(''),
  FLANTS_SOURCE: z.string({ error: 'is required (s3://bucket/prefix or https://origin/prefix)' }),
  FLANTS_SOURCE_ENDPOINT: url.optional(),
  FLANTS_SOURCE_ALLOW: z.string().optional(),
  FLANTS_LIVE: z.enum(['recrawl', 'incomplete'], { error: 'must be recrawl or incomplete' }).default('recrawl'),
  FLANTS_LIVE_RECRAWL_INTERVAL: positiveDuration.default(30_000),
  FLANTS_LIVE_MAX_WAIT: positiveDuration.default(6 * 3_600_000),
  FLANTS_LIVE_STALE_AFTER: duration.default(15 * 60_000),
  FLANTS_SOURCE_REGION: z.string().optional(),
  FLANTS_SOURCE_ACCESS_KEY_ID: z.string().optional(),
  FLANTS_SOURCE_SECRET_ACCESS_KEY: z.string().optional(),
  FLANTS_SOURCE_SESSION_TOKEN: z.string().optional(),
  FLANTS_DEST: z.string({ error: 'is required (s3://bucket/prefix)' }),
  FLANTS_DEST_ENDPOINT: url.optional(),
  FLANTS_DEST_REGION: z.string().optional(),
  FLANTS_S3_FORCE_PATH_STYLE: boolText.optional(),
  AWS_REGION: z.string().default('us-east-1'),
  FLANTS_LAMBDA: z.string().min(1, 'must name a function, or be local').default('local'),
  FLANTS_LAMBDA_ENDPOINT: url.optional(),
  FLANTS_LAMBDA_CONCURRENCY: positiveInt.default(32),
  FLANTS_LAMBDA_TIMEOUT: positiveDuration.default(300_000),
  FLANTS_BATCH_SIZE: intSetting(1, 10_000).default(100),
  FLANTS_BATCH_WAIT: duration.default(200),
  FLANTS_WAVE_CONCURRENCY: positiveInt.default(16),
  FLANTS_MAX_ATTEMPTS: intSetting(1, 100).default(3),
  FLANTS_RETRY_BACKOFF: z.string().default('1s,5s,30s'),
  FLANTS_ACK_WAIT: positiveDuration.default(10_000),
  FLANTS_THROTTLE_MAX_ROUNDS: intSetting(1, 10_000).default(50),
  FLANTS_MAX_QUEUED_JOBS: positiveInt.default(50_000),
  FLANTS_CLASS_SLICE: positiveInt.default(10_000),
  FLANTS_MAX_AGGREGATOR_BACKLOG: positiveInt.default(4_000),
  FLANTS_THROTTLE_MAX_TIME: positiveDuration.default(10 * 60_000),
  FLANTS_MANIFEST_TEMPLATE: z.string().includes('{classId}', { message: 'must contain {classId}' }).default('{classId}/master.m3u8'),
  FLANTS_KEEP_QUERY: boolText.default(false),
  FLANTS_REPORT_PREFIX: z.string().default('_flants/reports/'),
  FLANTS_RECORDED_MAX_AGE: duration.default(0),
  FLANTS_STREAM_REPLICAS: intSetting(1, 5).default(1),
  FLANTS_STATE_REPLICAS: intSetting(1, 5).default(1),
  FLANTS_MULTIPART_THRESHOLD: bytes.default(64 * 1024 * 1024),
  FLANTS_PART_SIZE: bytes.default(16 * 1024 * 1024),
  FLANTS_FILE_CONCURRENCY: intSetting(1, 256).default(16),
  FLANTS_STALL_TIMEOUT: positiveDuration.default(30_000),
  FLANTS_SKIP_IDENTICAL: boolText.default(true),
  FLANTS_SERVER_SIDE_COPY: boolText.default(true),
  FLANTS_S3_DIRECT_IO: boolText.default(true),
  FLANTS_SPLIT_THRESHOLD: bytes.default(1024 * 1024 * 1024),
  FLANTS_SPLIT_PART_SIZE: bytes.default(128 * 1024 * 1024),
  FLANTS_MAX_PLAYLIST_BYTES: bytes.default(4 * 1024 * 1024),
  FLANTS_MAX_CLASS_PLAYLIST_BYTES: bytes.default(64 * 1024 * 1024),
  FLANTS_MAX_DEPTH: positiveInt.default(4),
  FLANTS_MAX_FILES_PER_CLASS: intSetting(1, MAX_FILES_PER_CLASS).default(200_000),
  FLANTS_CRAWL_CONCURRENCY: intSetting(1, 256).default(8),
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
  FLANTS_METRICS_PORT: port.default(9464),
  FLANTS_METRICS_HOST: z.string().min(1, 'must name an address').default('127.0.0.1'),
  FLANTS_DASHBOARD: boolText.default(true),
  FLANTS_DASHBOARD_PORT: port.default(8787),
  FLANTS_DASHBOARD_HOST: z.string().min(1, 'must name an address').default('127.0.0.1'),
  FLANTS_DASHBOARD_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
});

/** Thrown when configuration is invalid; its message names every bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function fail(variable: string, message: string): never {
  throw new ConfigError(`${variable} ${message}`);
}

/** Reads the `KEY=value` file named by FLANTS_CONFIG_FILE, or nothing when it is not set. */
function readConfigFile(env: NodeJS.ProcessEnv): Record<string, string> {
  const file = env.FLANTS_CONFIG_FILE;
  if (!file) return {};
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (err as Error).message;
    return fail('FLANTS_CONFIG_FILE', `names ${file}, which cannot be read: ${why} (point it at a KEY=value file)`);
  }
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim().replace(/^export\s+/, '');
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 1) fail('FLANTS_CONFIG_FILE', `line ${i + 1} of ${file} is not KEY=value`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return out;
}

/** `env` with the config file's entries added; the environment wins over the file. */
function withConfigFile(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const merged: Record<string, string | undefined> = { ...readConfigFile(env) };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;
  return merged;
}

/**
 * Copies the FLANTS_CONFIG_FILE entries that the environment does not set into
 * `env` (process.env by default), so that everything reading the environment
 * afterwards sees one configuration: every command, and the AWS SDK's
 * credential chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...). Call it once, first.
 */
export function applyConfigFile(env: NodeJS.ProcessEnv = process.env): void {
  for (const [k, v] of Object.entries(readConfigFile(env))) if (env[k] === undefined || env[k] === '') env[k] = v;
}

/** FLANTS_* variables read outside the validated schema: by the CLI, the Lambda, tests and benchmarks. */
const OTHER_VARIABLES = ['FLANTS_CONFIG_FILE', 'FLANTS_LOG_FORMAT', 'FLANTS_SOURCE_SECRET_ARN', 'FLANTS_TEST_LOG', 'FLANTS_CHAOS_LOG', 'FLANTS_BENCH_LIBRARY'];

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/**
 * One warning for each FLANTS_* variable flants does not know, naming the
 * closest known one: a misspelt setting would otherwise be silently ignored.
 */
export function unknownVariableWarnings(env: NodeJS.ProcessEnv = process.env): string[] {
  const known = [...Object.keys(envSchema.shape), ...OTHER_VARIABLES].filter((k) => k.startsWith('FLANTS_'));
  const squash = (k: string) => k.replace(/_/g, '');
  return Object.keys(withConfigFile(env))
    .filter((k) => k.startsWith('FLANTS_') && !known.includes(k))
    .sort()
    .map((k) => {
      const [best] = known
        .map((c) => [c, squash(c) === squash(k) ? 0 : editDistance(k, c)] as const)
        .sort((x, y) => x[1] - y[1]);
      const hint = best && best[1] <= Math.max(2, Math.floor(k.length / 5)) ? ` (did you mean ${best[0]}?)` : ' (see the configuration table in the README)';
      return `${k} is not a flants setting and is ignored${hint}`;
    });
}

/** Turns schema issues into one line that names each variable, in flants' words. */
function issuesMessage(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const variable = String(i.path[0] ?? 'configuration');
      const message = i.code === 'invalid_type' && i.input === undefined ? 'is required' : i.message;
      return `${variable} ${message}`;
    })
    .join('; ');
}

/** What commands that only talk to NATS need: `trigger`, `status`, `doctor`'s first checks. */
export interface ConnectionConfig {
  readonly natsUrl: string;
  readonly nats: NatsSettings;
  readonly namespace: string;
  readonly logLevel: string;
}

/** Loads and validates the NATS settings and namespace only; no source or destination is required. */
export function loadConnectionConfig(env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  const merged = withConfigFile(env);
  const parsed = envSchema.pick({ NATS_URL: true, FLANTS_NAMESPACE: true, LOG_LEVEL: true }).safeParse(merged);
  if (!parsed.success) throw new ConfigError(issuesMessage(parsed.error.issues));
  let nats: NatsSettings;
  try {
    nats = natsSettings({ ...merged, NATS_URL: parsed.data.NATS_URL });
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  return { natsUrl: parsed.data.NATS_URL, nats, namespace: parsed.data.FLANTS_NAMESPACE, logLevel: parsed.data.LOG_LEVEL };
}

/** Loads and validates configuration from `env` (default: process.env). Throws ConfigError. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): FlantsConfig {
  const merged = withConfigFile(env);
  const parsed = envSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(issuesMessage(parsed.error.issues));
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
  if (e.FLANTS_STALL_TIMEOUT > 2 ** 31 - 1) fail('FLANTS_STALL_TIMEOUT', 'must be at most 24d (longer than a timer can wait)');
  if (e.FLANTS_PART_SIZE < 5 * 1024 * 1024) fail('FLANTS_PART_SIZE', 'must be at least 5MiB (the S3 minimum part size)');
  if (e.FLANTS_SPLIT_PART_SIZE < 5 * 1024 * 1024) fail('FLANTS_SPLIT_PART_SIZE', 'must be at least 5MiB (the S3 minimum part size)');
  if (e.FLANTS_SPLIT_THRESHOLD < e.FLANTS_SPLIT_PART_SIZE) fail('FLANTS_SPLIT_THRESHOLD', 'must be at least FLANTS_SPLIT_PART_SIZE');
  // A re-crawl not yet due is put back for an hour at most, and each time counts towards the redelivery cap: one due
  // much later would fail its recording after about 13 hours of waiting (a review).
  if (e.FLANTS_LIVE_RECRAWL_INTERVAL > MAX_LATER_MS) {
    fail('FLANTS_LIVE_RECRAWL_INTERVAL', 'must be at most 1h (a recording is looked at again at least hourly)');
  }
  // A recording is looked at once an interval: a shorter stale time gives up on one that merely had no new segment
  // between two looks. Left at its default, it grows with the interval instead.
  const staleAfterMs = merged.FLANTS_LIVE_STALE_AFTER === undefined ? Math.max(e.FLANTS_LIVE_STALE_AFTER, 2 * e.FLANTS_LIVE_RECRAWL_INTERVAL) : e.FLANTS_LIVE_STALE_AFTER;
  if (staleAfterMs > 0 && staleAfterMs < 2 * e.FLANTS_LIVE_RECRAWL_INTERVAL) {
    fail('FLANTS_LIVE_STALE_AFTER', 'must be 0 (never) or at least twice FLANTS_LIVE_RECRAWL_INTERVAL: a recording is looked at once an interval');
  }
  if (e.FLANTS_MULTIPART_THRESHOLD < e.FLANTS_PART_SIZE) {
    fail('FLANTS_MULTIPART_THRESHOLD', 'must be at least FLANTS_PART_SIZE');
  }
  let backoff: number[];
  try {
    backoff = e.FLANTS_RETRY_BACKOFF.split(',').map((s) => parseDuration(s));
  } catch (err) {
    return fail('FLANTS_RETRY_BACKOFF', `${(err as Error).message.replace(/^is /, 'has an entry that is ')}; it takes a comma-separated list such as 1s,5s,30s`);
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
    flow: { maxQueuedJobs: e.FLANTS_MAX_QUEUED_JOBS, classSlice: e.FLANTS_CLASS_SLICE, maxAggregatorBacklog: e.FLANTS_MAX_AGGREGATOR_BACKLOG },
    manifestTemplate: e.FLANTS_MANIFEST_TEMPLATE,
    keepQuery: e.FLANTS_KEEP_QUERY,
    reportPrefix,
    recordedMaxAgeMs: e.FLANTS_RECORDED_MAX_AGE,
    streamReplicas: e.FLANTS_STREAM_REPLICAS,
    stateReplicas: e.FLANTS_STATE_REPLICAS,
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
      staleAfterMs,
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
