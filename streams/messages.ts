/**
 * Message schemas for every subject. Inbound messages are parsed with zod so
 * that a poison message is rejected with a reason instead of crashing an actor.
 */
import { z } from 'zod';

/** Largest payload any actor will parse; bigger ones are dead-lettered unread. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;

/**
 * Most files one class may have (FLANTS_MAX_FILES_PER_CLASS cannot exceed it):
 * a run's state holds two bit fields of this many bits, and must fit one NATS
 * message (1 MiB by default) with room to spare.
 */
export const MAX_FILES_PER_CLASS = 1_000_000;
const fileIndex = z.number().int().nonnegative().max(MAX_FILES_PER_CLASS - 1);

/** A class id is untrusted text: printable, bounded, and unable to climb paths. */
export const classIdSchema = z
  .string()
  .min(1, 'classId is empty')
  .max(256, 'classId is longer than 256 characters')
  .refine((s) => !/[\u0000-\u001f\u007f/\\]/.test(s), 'classId may not contain "/", "\\" or control characters')
  .refine((s) => s !== '.' && s !== '..', 'classId may not be "." or ".."');

/** The JSON form of a `class.recorded` trigger. A bare class id as plain text is also accepted. */
export const classRecordedSchema = z.strictObject({
  classId: classIdSchema,
  manifest: z.string().min(1).max(2048).optional(),
  /** Repair runs: transfer only these paths (relative to FLANTS_SOURCE) of the class. */
  files: z.array(z.string().min(1).max(2048)).min(1).max(10_000).optional(),
  /** `bulk` (library scans) yields to everything else: new recordings, re-triggers and repairs. */
  lane: z.enum(['live', 'bulk']).optional(),
});
export type ClassRecorded = z.infer<typeof classRecordedSchema>;

/** Scanner → crawler: crawl one class run. */
export const crawlJobSchema = z.object({
  classId: classIdSchema,
  /** Identifies one transfer of a class: the `class.recorded` stream sequence that started it. */
  runId: z.string().min(1),
  /** Entry playlist, relative to FLANTS_SOURCE. */
  manifest: z.string().min(1),
  startedAt: z.string(),
  /** Live recordings are crawled again; each crawl of a run is one generation. */
  generation: z.number().int().nonnegative().default(0),
  /** Unused since live recordings are enqueued once, when they end; accepted from older daemons' messages. */
  known: z.number().int().nonnegative().default(0),
  /** Do not crawl before this time (a live re-crawl waits for its interval). */
  notBefore: z.string().optional(),
  /** Repair runs: only these source paths are transferred. */
  only: z.array(z.string()).optional(),
  /** Each lane waits for room in its own transfer backlog; the live lane is served first at every stage. */
  lane: z.enum(['live', 'bulk']).default('live'),
  /** A crawl enqueues a slice of its files at a time: this one starts at this file. */
  enqueueFrom: z.number().int().nonnegative().default(0),
  /** How many turns this crawl has had (names each continuation, so a redelivered one is deduplicated). */
  turn: z.number().int().nonnegative().optional(),
  /** The file count the first turn saw: later turns number files the same way only if it still holds. (Named when only bulk crawls had turns.) */
  bulkTotal: z.number().int().nonnegative().optional(),
  /**
   * SHA-1 of the first turn's ordered destination keys: an edit that keeps the
   * count (a segment replaced) would otherwise go unnoticed between turns.
   */
  bulkDigest: z.string().max(64).optional(),
  /** A recording's playlists as its last look found them (CrawlResult.playlistsDigest). */
  // Advisory: a value that is not one (a hostile message's, or an earlier form's) restarts the count, and never
  // makes the whole message poison (its run would then get no outcome).
  liveDigest: z.string().max(64).optional().catch(undefined),
  /**
   * Since when they have been so, on the stream's clock: the stored time (ms)
   * of the first re-crawl that found them unchanged (see liveStillness).
   */
  liveSince: z.number().int().nonnegative().optional().catch(undefined),
});
export type CrawlJob = z.infer<typeof crawlJobSchema>;

/**
 * Header on a recording's re-crawl (a crawl job that only watches a playlist
 * that has not ended yet). The crawler's runtime reads it before the payload:
 * such a message does not keep a scan's next class waiting (actors/crawler.ts).
 */
export const WATCH_HEADER = 'Flants-Watch';

/** Crawler → dispatcher: copy one file. */
export const transferJobSchema = z.object({
  classId: classIdSchema,
  runId: z.string().min(1),
  /** The file's index within its class run: its bit in the aggregator's bit field. */
  i: fileIndex,
  /** Source reference relative to the source root, percent-encoded, query kept. */
  src: z.string().min(1),
  /** Destination key relative to the destination prefix. */
  key: z.string().min(1),
  /** May legitimately be missing (EXT-X-GAP segment, preload hint). */
  optional: z.boolean().optional(),
  /** One ranged part of a split file (see lambda/split-file.ts). */
  part: z
    .object({
      uploadId: z.string().min(1).max(1024),
      /** 1-based S3 part number. */
      n: z.number().int().min(1).max(10_000),
      count: z.number().int().min(1).max(10_000),
      start: z.number().int().nonnegative(),
      end: z.number().int().positive(),
      /** The whole file's size and source version: a part refuses a source that changed since the split. */
      size: z.number().int().positive(),
      version: z.string().max(1024).optional(),
    })
    .optional(),
  /** Every part of a split file is uploaded: complete its multipart upload. */
  assemble: z
    .object({
      uploadId: z.string().min(1).max(1024),
      size: z.number().int().positive(),
      version: z.string().max(1024).optional(),
      parts: z.array(z.object({ n: z.number().int().min(1).max(10_000), etag: z.string().min(1).max(200) })).min(1).max(2_000),
    })
    .optional(),
});
export type TransferJob = z.infer<typeof transferJobSchema>;

/** The most a poison transfer job's bytes are read to name its file (NATS' own max_payload bounds them too). */
const MAX_NAMED_POISON_BYTES = 4 * MAX_PAYLOAD_BYTES;

/**
 * What a poison transfer job still tells: which file of which run it was, when
 * that can be read. Its file then gets a final failed result, so the class is
 * reported (failed, naming the reason) instead of never (a review: a segment
 * URI too long for a job left its class open for good).
 */
export function fileOfPoisonJob(data: Uint8Array): TransferJob | undefined {
  if (data.length > MAX_NAMED_POISON_BYTES) return undefined;
  const named = z
    .object({ classId: classIdSchema, runId: z.string().min(1).max(200), i: fileIndex, src: z.string().catch(''), key: z.string().max(1024).catch('') })
    .safeParse(safeJson(data));
  if (!named.success) return undefined;
  // Its key is shown in the report, never written to: one it does not carry readably is named by the file's number.
  return named.data.key === '' ? { ...named.data, key: `(file #${named.data.i}: the poison job carries no readable key)` } : named.data;
}

/**
 * Which run a poison crawl job was for, when that can be read (a crawl job
 * from another flants version, say): its class is then reported failed with
 * the reason instead of never. Only what reporting needs is read; the rest of
 * the job is filled in with defaults and never crawled.
 */
export function runOfPoisonCrawl(data: Uint8Array): CrawlJob | undefined {
  if (data.length > MAX_NAMED_POISON_BYTES) return undefined;
  const named = z
    .object({
      classId: classIdSchema,
      runId: z.string().min(1).max(200),
      startedAt: z.iso.datetime().catch(() => new Date().toISOString()),
      lane: z.enum(['live', 'bulk']).catch('live'),
    })
    .safeParse(safeJson(data));
  return named.success ? crawlJobSchema.parse({ ...named.data, manifest: '(unreadable)' }) : undefined;
}

/** A URI the crawler refused to follow, with why. Recorded in the class report. */
export interface Refusal {
  readonly uri: string;
  readonly reason: string;
}

/** Most file groups one `class crawled` message (and so one class state) carries. */
export const MAX_FILE_GROUPS = 64;
/** Longest group name kept; longer ones keep their end, which tells renditions apart. */
export const MAX_GROUP_NAME_CHARS = 80;

/**
 * Which file indexes one playlist (a rendition, say) brought in, for live
 * views: a rendition's files as one row. Playlist paths are untrusted text.
 */
export const fileGroupSchema = z.object({
  name: z.string().max(MAX_GROUP_NAME_CHARS),
  from: z.number().int().nonnegative().max(MAX_FILES_PER_CLASS),
  count: z.number().int().positive().max(MAX_FILES_PER_CLASS),
});
export type FileGroup = z.infer<typeof fileGroupSchema>;

/** Crawler → aggregator: how many files the class run has. Published before any of its jobs. */
export const classCrawledSchema = z.object({
  classId: classIdSchema,
  runId: z.string().min(1),
  /** Which crawl of a live recording this is: a later one supersedes an earlier one. */
  generation: z.number().int().nonnegative().default(0),
  total: z.number().int().nonnegative().max(MAX_FILES_PER_CLASS),
  playlists: z.number().int().nonnegative(),
  /**
   * Optional (older crawlers send none): the files grouped by the playlist
   * that brought them in, in index order. Only views read it, so a malformed
   * list is dropped rather than failing the message that counts the class.
   */
  groups: z.array(fileGroupSchema).max(MAX_FILE_GROUPS).optional().catch(undefined),
  /** A sample (the first few); the whole list follows in `class details` messages. */
  refused: z.array(z.object({ uri: z.string(), reason: z.string() })).max(100).default([]),
  /** Files the class references but that are deliberately not fetched (e.g. skd: key URIs); a sample, as above. */
  skipped: z.array(z.object({ uri: z.string(), reason: z.string() })).max(100).default([]),
  refusedCount: z.number().int().nonnegative().optional(),
  skippedCount: z.number().int().nonnegative().optional(),
  startedAt: z.string(),
  /**
   * `ended`: every playlist has EXT-X-ENDLIST. `recrawl`: still live, more files may come.
   * `incomplete`: still live, but it will not be crawled again; report what is there.
   */
  live: z.enum(['ended', 'recrawl', 'incomplete']).default('ended'),
});
export type ClassCrawled = z.infer<typeof classCrawledSchema>;

/**
 * Crawler → aggregator: one piece of a long list about a class run (refused or
 * skipped URIs), so that no list, however long, makes a message too big.
 */
export const classDetailsSchema = z.object({
  classId: classIdSchema,
  runId: z.string().min(1),
  generation: z.number().int().nonnegative(),
  kind: z.enum(['refused', 'skipped']),
  piece: z.number().int().nonnegative(),
  items: z.array(z.object({ uri: z.string(), reason: z.string() })),
});
export type ClassDetails = z.infer<typeof classDetailsSchema>;

/** One file's outcome for one attempt. `final` marks the last word on that file. */
export const fileResultSchema = z.object({
  classId: classIdSchema,
  runId: z.string().min(1),
  i: fileIndex,
  key: z.string(),
  ok: z.boolean(),
  bytes: z.number().nonnegative(),
  etag: z.string().optional(),
  attempt: z.number().int().positive(),
  final: z.boolean(),
  error: z.string().optional(),
  /** Why an optional file was not copied. */
  note: z.string().optional(),
  /** The destination already held this version; nothing was copied. */
  unchanged: z.boolean().optional(),
});
export type FileResult = z.infer<typeof fileResultSchema>;

/** Dispatcher → aggregator: every result of one wave in one message, so results cost one publish per wave. */
export const waveResultsSchema = z.object({ results: z.array(fileResultSchema) });
export type WaveResults = z.infer<typeof waveResultsSchema>;

/** Scanner or crawler → aggregator: the class run failed before its files could be counted. */
export const classFailedSchema = z.object({
  classId: classIdSchema,
  runId: z.string().min(1),
  reason: z.string(),
  startedAt: z.string(),
  refused: z.array(z.object({ uri: z.string(), reason: z.string() })).default([]),
});
export type ClassFailed = z.infer<typeof classFailedSchema>;

/**
 * Reports a class run that failed before its files could be counted (entry
 * playlist missing, crawl failed). Deduped per run, so a redelivery reports once.
 */
export async function publishClassFailed(
  js: { publish(subject: string, data: string, opts: { msgID: string }): Promise<unknown> },
  subject: string,
  job: { classId: string; runId: string; startedAt: string },
  reason: string,
): Promise<void> {
  const event: ClassFailed = { classId: job.classId, runId: job.runId, reason, startedAt: job.startedAt, refused: [] };
  await js.publish(subject, JSON.stringify(event), { msgID: `failed:${job.runId}` });
}

/** The outcome event on `class.transferred`, exactly one per class run. */
export interface ClassTransferred {
  readonly classId: string;
  readonly runId: string;
  readonly status: 'complete' | 'failed' | 'incomplete';
  readonly files: number;
  /** Bytes copied by this run. */
  readonly bytes: number;
  /** Bytes found already identical at the destination and not copied. */
  readonly verifiedBytes: number;
  /** Files found already identical at the destination, not copied again. */
  readonly unchanged: number;
  /** References refused (never fetched) and deliberately skipped; their lists are in the report. */
  readonly refused: number;
  readonly skipped: number;
  /** True when every file was found identical: the run verified the class, copying nothing. */
  readonly verified: boolean;
  /** Failed attempts that were retried (throttling excluded: it uses up no attempt). */
  readonly retries: number;
  readonly failed: ReadonlyArray<{ key: string; reasons: string[] }>;
  readonly reason?: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly reportKey: string;
}

/** A record on the dead-letter subject: what was rejected, where it came from, and why. */
export interface DeadLetter {
  readonly subject: string;
  readonly stream: string;
  readonly seq: number;
  readonly actor: string;
  readonly reason: string;
  readonly size: number;
  /** At most 1 KiB of the payload, for diagnosis. */
  readonly preview: string;
  readonly at: string;
}

/** Rejection with a human reason; used for poison messages. */
export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
}

/**
 * A message's bytes as text. A view, not a copy: `Buffer.from(data)` copied
 * every job the dispatcher read (garbage it then had to collect).
 */
export function textOf(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');
}

/** Parses JSON bytes, or yields undefined: for messages already known to be unprocessable. */
export function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(textOf(data));
  } catch {
    return undefined;
  }
}

/** Parses JSON bytes with a schema, throwing PoisonMessageError with a readable reason. */
export function parseMessage<T>(schema: z.ZodType<T>, data: Uint8Array, what: string): T {
  if (data.length > MAX_PAYLOAD_BYTES) {
    throw new PoisonMessageError(`${what} payload is ${data.length} bytes, over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  }
  let json: unknown;
  try {
    json = JSON.parse(textOf(data));
  } catch (err) {
    throw new PoisonMessageError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; ');
    throw new PoisonMessageError(`${what} is invalid: ${why}`);
  }
  return parsed.data;
}

/**
 * Parses a `class.recorded` payload: JSON `{classId, manifest?}` or a bare class id.
 * Anything else throws PoisonMessageError naming the problem.
 */
export function parseClassRecorded(data: Uint8Array): ClassRecorded {
  if (data.length > MAX_PAYLOAD_BYTES) {
    throw new PoisonMessageError(`class.recorded payload is ${data.length} bytes, over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  }
  const text = textOf(data).trim();
  if (text.startsWith('{') || text.startsWith('[') || text.startsWith('"')) {
    return parseMessage(classRecordedSchema, data, 'class.recorded');
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,255}$/.test(text)) {
    throw new PoisonMessageError(
      `class.recorded payload is neither JSON {"classId": ...} nor a bare class id (letters, digits, . _ : @ -): ${JSON.stringify(text.slice(0, 80))}`,
    );
  }
  return { classId: text };
}

/** A wave starting (with its files) or ending, on the core-NATS live subject. Best effort, never stored. */
export interface WaveEvent {
  readonly wave: string;
  readonly state: 'start' | 'end';
  /** Start only: the files, grouped by class run. */
  readonly files?: ReadonlyArray<{ readonly c: string; readonly r: string; readonly i: readonly number[] }>;
}
