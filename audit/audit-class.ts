/**
 * Audits one class: re-crawls it from the source and compares every file with
 * the destination (missing, size, checksum), and lists destination objects
 * under the class's folder that the playlists no longer reference, when that
 * folder is provably the class's own.
 */
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { FlantsConfig } from '../config/load-config.js';
import { crawlClass, type CrawledFile } from '../hls/crawl-class.js';
import { SOURCE_VERSION_META } from '../storage/etag.js';
import { invokeWave, waveEnds } from '../lambda/invoke-wave.js';
import type { WaveRequest } from '../lambda/wave.js';
import { describeError } from '../storage/errors.js';
import { unquoteEtag } from '../storage/etag.js';
import type { SourceReader } from '../storage/source-reader.js';
import type { SourceRoot } from '../storage/source-root.js';

/** One difference between source and destination. */
export interface Drift {
  /** Source path (relative to FLANTS_SOURCE); for `extra`, the key relative to FLANTS_DEST. */
  readonly path: string;
  readonly problem: 'missing' | 'size' | 'checksum' | 'extra' | 'source-missing';
  readonly detail: string;
}

/** One class's audit. */
export interface ClassAudit {
  readonly classId: string;
  readonly manifest: string;
  readonly files: number;
  readonly bytes: number;
  readonly drift: Drift[];
  /** Files whose content could not be compared without --deep (no comparable checksum on both sides). */
  readonly unverified: number;
  /**
   * Set when extra objects were not looked for, and why: the class's folder
   * also holds another class's entry playlist, so an object no playlist of
   * this class references may well be that class's.
   */
  readonly extrasNotChecked?: string;
  readonly error?: string;
}

/** What an audit needs. */
export interface AuditDeps {
  readonly config: FlantsConfig;
  readonly reader: SourceReader;
  readonly root: SourceRoot;
  readonly dest: S3Client;
  /** Needed for --deep: the hashing happens inside the Lambda. */
  readonly lambda?: LambdaClient;
}

interface DestObject {
  readonly size: number;
  readonly etag: string;
}


/** Lists destination objects under `prefix`. */
async function listDest(s3: S3Client, bucket: string, prefix: string): Promise<Map<string, DestObject>> {
  const out = new Map<string, DestObject>();
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.set(o.Key, { size: o.Size ?? 0, etag: unquoteEtag(o.ETag) });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) await fn(items[i] as T);
    }),
  );
}

/** The destination prefix a class owns: the folder of its entry playlist. */
export function classDestPrefix(config: FlantsConfig, manifestPath: string): string | undefined {
  const dir = manifestPath.split('/').slice(0, -1).join('/');
  return dir ? `${config.dest.prefix}${dir}/` : undefined;
}

/** How to audit one class. */
export interface AuditClassOptions {
  readonly deep: boolean;
  /** Entry playlists (as triggers name them) of the other classes known to the audit. */
  readonly otherEntries?: readonly string[];
}

/** Audits one class. Never throws: a class that cannot be crawled is reported with `error`. */
export async function auditClass(deps: AuditDeps, classId: string, manifest: string, o: AuditClassOptions): Promise<ClassAudit> {
  const { config } = deps;
  const drift: Drift[] = [];
  let files: readonly CrawledFile[];
  let entryPath = manifest;
  try {
    const entry = deps.root.fromRef(manifest);
    entryPath = entry.path;
    files = (await crawlClass(entry, deps, { ...config.crawl, keepQuery: config.keepQuery })).files;
  } catch (err) {
    return { classId, manifest, files: 0, bytes: 0, drift, unverified: 0, error: `crawl failed: ${describeError(err)}` };
  }
  const prefix = classDestPrefix(config, entryPath);
  const listed = prefix ? await listDest(deps.dest, config.dest.bucket, prefix) : new Map<string, DestObject>();
  const keyOf = (f: CrawledFile) => config.dest.prefix + f.key;
  let bytes = 0;
  let unverified = 0;
  const toHash: CrawledFile[] = [];

  await eachLimited(files, 32, async (f) => {
    const key = keyOf(f);
    const stat = await deps.reader.stat(deps.root.fromRef(f.ref));
    let dest = listed.get(key);
    if (!dest && (!prefix || !key.startsWith(prefix))) {
      // Files outside the class folder are not in the listing: ask for them one by one.
      dest = await deps.dest
        .send(new HeadObjectCommand({ Bucket: config.dest.bucket, Key: key }))
        .then((h) => ({ size: h.ContentLength ?? 0, etag: unquoteEtag(h.ETag) }), () => undefined);
    }
    if (!stat) {
      if (!f.optional) drift.push({ path: f.path, problem: 'source-missing', detail: 'referenced by a playlist but missing at the source' });
      return;
    }
    bytes += stat.length ?? 0;
    if (!dest) {
      if (!f.optional) drift.push({ path: f.path, problem: 'missing', detail: `destination has no ${key}` });
      return;
    }
    if (stat.length !== undefined && dest.size !== stat.length) {
      drift.push({ path: f.path, problem: 'size', detail: `source ${stat.length} bytes, destination ${dest.size}` });
      return;
    }
    if (o.deep) {
      toHash.push(f);
      return;
    }
    if (stat.md5 && /^[0-9a-f]{32}$/.test(dest.etag)) {
      if (stat.md5 !== dest.etag) drift.push({ path: f.path, problem: 'checksum', detail: `source MD5 ${stat.md5}, destination ${dest.etag}` });
      return;
    }
    // No comparable MD5: the copy's recorded source version says which version it holds.
    const head = await deps.dest.send(new HeadObjectCommand({ Bucket: config.dest.bucket, Key: key }));
    const recorded = head.Metadata?.[SOURCE_VERSION_META];
    if (recorded && stat.version) {
      if (recorded !== stat.version) drift.push({ path: f.path, problem: 'checksum', detail: `destination holds source version ${recorded}, source is ${stat.version}` });
      return;
    }
    unverified++;
  });

  if (o.deep && toHash.length > 0) {
    if (!deps.lambda) throw new Error('--deep needs the transfer Lambda');
    for (let i = 0; i < toHash.length; i += config.batchSize) {
      const wave = toHash.slice(i, i + config.batchSize);
      const req: WaveRequest = {
        op: 'hash',
        ...waveEnds(config),
        jobs: wave.map((f) => ({ src: f.ref, key: f.key })),
        options: config.transfer,
      };
      const { results } = await invokeWave(deps.lambda, config.lambda.functionName, req);
      wave.forEach((f, j) => {
        const r = results[j];
        if (!r?.ok || !r.hashes) {
          drift.push({ path: f.path, problem: 'checksum', detail: `could not hash: ${r?.error ?? 'no result'}` });
        } else if (r.hashes.dest === undefined) {
          drift.push({ path: f.path, problem: 'missing', detail: 'destination object vanished during the audit' });
        } else if (r.hashes.dest !== r.hashes.source) {
          drift.push({ path: f.path, problem: 'checksum', detail: `SHA-256 source ${r.hashes.source}, destination ${r.hashes.dest}` });
        }
      });
    }
  }

  let extrasNotChecked: string | undefined;
  if (prefix) {
    const expected = new Set(files.map(keyOf));
    const reserved = config.dest.prefix + config.reportPrefix;
    const unreferenced = [...listed.keys()].filter((key) => !expected.has(key) && !key.startsWith(reserved));
    extrasNotChecked = sharedFolder(deps, prefix, entryPath, o.otherEntries ?? [], unreferenced);
    if (!extrasNotChecked) {
      for (const key of unreferenced) {
        drift.push({ path: key.slice(config.dest.prefix.length), problem: 'extra', detail: 'not referenced by any playlist of the class' });
      }
    }
  }
  drift.sort((a, b) => a.path.localeCompare(b.path));
  return { classId, manifest, files: files.length, bytes, drift, unverified, ...(extrasNotChecked ? { extrasNotChecked } : {}) };
}

/**
 * Why the class folder may hold other classes' files, or undefined when it is
 * provably this class's alone: no other known class's entry playlist lies
 * under it, and no playlist there goes unreferenced (the entry playlist of a
 * class this audit does not know of, say one recorded before --since).
 */
function sharedFolder(deps: AuditDeps, prefix: string, entryPath: string, otherEntries: readonly string[], unreferenced: readonly string[]): string | undefined {
  const folder = prefix.slice(deps.config.dest.prefix.length);
  for (const other of otherEntries) {
    let path: string;
    try {
      path = deps.root.fromRef(other).path;
    } catch {
      continue; // a trigger naming a URI outside the source has no folder here
    }
    if (path !== entryPath && path.startsWith(folder)) return `the folder ${folder} also holds the entry playlist ${path} of another class`;
  }
  const playlist = unreferenced.find((key) => /\.m3u8?$/i.test(key));
  if (playlist) return `the folder ${folder} also holds ${playlist.slice(deps.config.dest.prefix.length)}, a playlist this class does not reference`;
  return undefined;
}
