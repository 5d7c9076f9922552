/**
 * Crawls one class: the entry playlist and every playlist it references, with
 * bounded concurrency, depth, size and file count. Returns every distinct file
 * (playlists included) in a deterministic order, so that a re-crawl gives each
 * file the same index, plus every URI refused or skipped, with why.
 *
 * Memory is what bounds a crawler (it runs in a 128 MB heap): the total of a
 * class's playlists is capped, files are counted as they are found rather than
 * after the walk, and a parsed playlist is kept only as its list of files.
 */
import { createHash } from 'node:crypto';
import type { Refusal } from '../streams/messages.js';
import { PermanentError, RefusedUriError, TooLargeError } from '../storage/errors.js';
import type { SourceReader } from '../storage/source-reader.js';
import { redactUri, truncate, UNFETCHABLE_SCHEMES, type SourceRef, type SourceRoot } from '../storage/source-root.js';
import { destKeyFor } from './dest-key.js';
import { parsePlaylist } from './parse-playlist.js';

/** Default for `maxClassPlaylistBytes`: the most playlist text one class may hold in all. */
export const DEFAULT_MAX_CLASS_PLAYLIST_BYTES = 64 * 1024 * 1024;

/** Crawl options; the limits' generous defaults come from configuration. */
export interface CrawlOptions {
  /** Largest single playlist (FLANTS_MAX_PLAYLIST_BYTES). */
  readonly maxPlaylistBytes: number;
  /** Largest total of all the class's playlists; default DEFAULT_MAX_CLASS_PLAYLIST_BYTES. */
  readonly maxClassPlaylistBytes?: number;
  readonly maxDepth: number;
  readonly maxFiles: number;
  readonly concurrency: number;
  /**
   * FLANTS_KEEP_QUERY: the query string is part of the destination key, so
   * references that differ only by query are distinct files. Default false:
   * they are one file.
   */
  readonly keepQuery?: boolean;
}

/** The former name of CrawlOptions. */
export type CrawlLimits = CrawlOptions;

/** One file to copy. */
export interface CrawledFile {
  /** Root-relative reference, percent-encoded, query kept: what the Lambda fetches. */
  readonly ref: string;
  /** Root-relative path, decoded, no query. */
  readonly path: string;
  /** Destination key suffix (see dest-key.ts), and the file's identity within the class. */
  readonly key: string;
  readonly role: string;
  /** True when every reference to the file allows it to be missing (EXT-X-GAP, preload hint). */
  readonly optional: boolean;
}

/**
 * A run of consecutive file indexes that one playlist brought in (the
 * playlist itself first, then the files it lists that no earlier playlist
 * did). The runs tile `files` in order; a playlist whose files resume after a
 * child playlist's has a second run.
 */
export interface PlaylistRun {
  /** Root-relative path of the playlist, decoded, no query. */
  readonly playlist: string;
  readonly from: number;
  count: number;
}

/** Everything one crawl found. */
export interface CrawlResult {
  readonly files: readonly CrawledFile[];
  /** Which playlist each file index came from, as runs (see PlaylistRun); for views, never for accounting. */
  readonly runs: readonly PlaylistRun[];
  readonly playlists: number;
  /** One entry per distinct redacted URI (no query, credentials or data), with the first reason. */
  readonly refused: readonly Refusal[];
  /** How many distinct URIs were refused; `refused` may hold fewer entries once queries are redacted. */
  readonly refusedCount: number;
  readonly skipped: readonly Refusal[];
  /** How many distinct URIs were skipped (cycles included). */
  readonly skippedCount: number;
  /** True when some media playlist has no EXT-X-ENDLIST. */
  readonly live: boolean;
  /**
   * While `live`: SHA-1 over every playlist's name and every live media
   * playlist's text, so that a recording whose files keep their names (one
   * growing byte-range file, say) still changes it. Empty otherwise: an ended
   * class is never looked at again.
   */
  readonly playlistsDigest: string;
}

/** A playlist child is named by its fetch reference (a key of `visited`); a file child is the file itself. */
type Child = string | CrawledFile;

interface Visited {
  readonly ref: SourceRef;
  readonly depth: number;
  /** Definitions of the playlist that first referenced this one, for EXT-X-DEFINE:IMPORT. */
  readonly imported: Readonly<Record<string, string>>;
  live: boolean;
  children: Child[];
  /** SHA-1 of its text while it is live, for CrawlResult.playlistsDigest. */
  textHash?: string;
}

/** Schemes a source file may have. Key URIs in any other scheme name a DRM system's key, not a file. */
const FETCHABLE_SCHEMES = new Set(['http:', 'https:', 's3:']);
/** Refused, never skipped: a local file is a security matter, whatever role names it. */
const REFUSED_SCHEMES = new Set(['file:']);
const KEY_ROLES = new Set(['key', 'session-key']);
/** Longest refusal or skip reason kept in a report. */
const MAX_REASON_CHARS = 512;
/** A URI's query in a playlist's text, in a URI line or a quoted URI attribute. */
const QUERY = /\?[^"\s]*/g;

/** Crawls from `entry`. Throws PermanentError (class fails) or anything else (retry the crawl). */
export async function crawlClass(
  entry: SourceRef,
  deps: { reader: SourceReader; root: SourceRoot },
  options: CrawlOptions,
  signal?: AbortSignal,
): Promise<CrawlResult> {
  const keepQuery = options.keepQuery === true;
  const classBytes = options.maxClassPlaylistBytes ?? DEFAULT_MAX_CLASS_PLAYLIST_BYTES;
  const visited = new Map<string, Visited>();
  // Keyed by redacted URI: m3u8-parser repeats a map on every segment it covers.
  const refused = new Map<string, Refusal>();
  const skipped = new Map<string, Refusal>();
  const refusedUris = new Set<string>();
  const skippedUris = new Set<string>();
  // Every distinct file found so far, by key: the files limit applies as they are found.
  const found = new Set<string>();
  let playlistBytes = 0;
  const queue: Visited[] = [];

  const fileOf = (ref: SourceRef, role: string, optional: boolean): CrawledFile => {
    // Most references need no encoding and carry no query: one string serves as both.
    const path = ref.path === ref.ref ? ref.ref : ref.path;
    return { ref: ref.ref, path, key: destKeyFor(ref.ref, path, keepQuery), role, optional };
  };
  const count = (key: string) => {
    if (found.has(key)) return;
    found.add(key);
    if (found.size > options.maxFiles) {
      throw new PermanentError(`class references more than FLANTS_MAX_FILES_PER_CLASS=${options.maxFiles} files`);
    }
  };
  const enqueue = (ref: SourceRef, depth: number, imported: Readonly<Record<string, string>>) => {
    if (visited.has(ref.ref)) return;
    if (depth > options.maxDepth) {
      throw new PermanentError(`playlist nesting is deeper than FLANTS_MAX_DEPTH=${options.maxDepth} at ${ref.path}`);
    }
    count(fileOf(ref, 'playlist', false).key);
    const v: Visited = { ref, depth, imported, live: false, children: [] };
    visited.set(ref.ref, v);
    queue.push(v);
  };
  // Reasons are bounded as URIs are (redactUri): they quote playlist paths and schemes, untrusted text up to
  // MAX_URI_CHARS long, and 20 of them go in one `class crawled` message (a review: 14,000-character paths made it
  // too large to publish, and the class was never reported).
  const skip = (uri: string, reason: string) => {
    skippedUris.add(uri);
    const shown = redactUri(uri);
    if (!skipped.has(shown)) skipped.set(shown, { uri: shown, reason: truncate(reason, MAX_REASON_CHARS) });
  };
  const refuse = (uri: string, reason: string) => {
    refusedUris.add(uri);
    const shown = redactUri(uri);
    if (!refused.has(shown)) refused.set(shown, { uri: shown, reason: truncate(reason, MAX_REASON_CHARS) });
  };
  const tooMuch = (at: string) =>
    new PermanentError(`playlists of this class total more than ${classBytes} bytes (maxClassPlaylistBytes), at ${at}`);
  enqueue(entry, 0, {});

  const read = async (v: Visited): Promise<string> => {
    // Only completed reads count: the class then fails exactly when its playlists
    // add up to more than the cap, and at most `concurrency` more are in memory.
    const left = classBytes - playlistBytes;
    if (left <= 0) throw tooMuch(v.ref.path);
    const cap = Math.min(options.maxPlaylistBytes, left);
    let text: string;
    try {
      text = await deps.reader.readText(v.ref, cap, signal);
    } catch (err) {
      if (err instanceof TooLargeError && cap < options.maxPlaylistBytes) throw tooMuch(v.ref.path);
      throw err;
    }
    playlistBytes += Buffer.byteLength(text);
    if (playlistBytes > classBytes) throw tooMuch(v.ref.path);
    return text;
  };

  const load = async (v: Visited) => {
    const text = await read(v);
    const parsed = parsePlaylist(text, v.ref.path, { url: v.ref.url.href, imported: v.imported });
    v.live = parsed.type === 'media' && !parsed.endList;
    // Only a live playlist can still grow. Without FLANTS_KEEP_QUERY a query is no part of a file's identity: an
    // origin that puts a fresh token in every URI on every fetch must not look like a recording that is still growing.
    if (v.live) v.textHash = createHash('sha1').update(keepQuery ? text : text.replace(QUERY, '')).digest('hex');
    for (const r of parsed.references) {
      const scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(r.uri)?.[1]?.toLowerCase();
      const isKey = KEY_ROLES.has(r.role);
      if (scheme && (UNFETCHABLE_SCHEMES.has(scheme) || (isKey && !FETCHABLE_SCHEMES.has(scheme) && !REFUSED_SCHEMES.has(scheme)))) {
        skip(r.uri, `${r.role} URI uses ${truncate(scheme, 40)}, which is not a file to copy`);
        continue;
      }
      let ref: SourceRef;
      try {
        ref = deps.root.resolve(r.uri, v.ref.url);
      } catch (err) {
        if (!(err instanceof RefusedUriError)) throw err;
        // RefusedUriError messages never hold the URI's query or credentials.
        refuse(r.uri, `${r.role} in ${truncate(v.ref.path)}: ${err.message}`);
        continue;
      }
      if (r.kind === 'playlist') {
        v.children.push(ref.ref);
        enqueue(ref, v.depth + 1, parsed.definitions);
      } else {
        const file = fileOf(ref, r.role, r.optional === true);
        count(file.key);
        v.children.push(file);
      }
    }
  };

  // Bounded parallel breadth-first walk: lanes take playlists off the queue as they appear.
  let active = 0;
  let failure: unknown;
  await new Promise<void>((resolve) => {
    const pump = () => {
      if (failure !== undefined) {
        if (active === 0) resolve();
        return;
      }
      while (active < options.concurrency && queue.length > 0) {
        const v = queue.shift() as Visited;
        active++;
        load(v)
          .catch((err) => {
            failure ??= err;
          })
          .finally(() => {
            active--;
            pump();
          });
      }
      if (active === 0 && queue.length === 0) resolve();
    };
    try {
      pump();
    } catch (err) {
      failure = err;
      resolve();
    }
  });
  if (failure !== undefined) throw failure;

  // Deterministic order: depth-first from the entry, in playlist order.
  const files: CrawledFile[] = [];
  const runs: PlaylistRun[] = [];
  const seen = new Map<string, number>();
  let live = false;
  const stack: Visited[] = [];
  const add = (file: CrawledFile) => {
    const at = seen.get(file.key);
    if (at !== undefined) {
      // A file some playlist requires is required, whoever else calls it optional.
      const f = files[at] as CrawledFile;
      if (f.optional && !file.optional) files[at] = { ...f, optional: false };
      return;
    }
    seen.set(file.key, files.length);
    const playlist = (stack.at(-1) as Visited).ref.path;
    const run = runs.at(-1);
    if (run && run.playlist === playlist && run.from + run.count === files.length) run.count++;
    else runs.push({ playlist, from: files.length, count: 1 });
    files.push(file);
  };
  // A playlist named many times is walked once: walking it again adds nothing (its files are already seen), and a
  // master naming a nested master N times would cost N² walks, N³ a level deeper, all without yielding (a review
  // stalled a crawler's event loop, and so its heartbeats, for 11 s with three 12 KB playlists).
  const walked = new Set<Visited>();
  const walk = (v: Visited) => {
    if (stack.includes(v)) {
      // Bounded as skip() bounds its entries: the paths are the playlists' own, as long as MAX_URI_CHARS.
      const uri = v.ref.path;
      const shown = redactUri(uri);
      skippedUris.add(`cycle:${uri}`);
      if (!skipped.has(`cycle:${shown}`)) {
        const parent = redactUri(stack.at(-1)?.ref.path ?? '');
        skipped.set(`cycle:${shown}`, { uri: shown, reason: truncate(`playlist cycle: ${parent} references its ancestor ${shown}`, MAX_REASON_CHARS) });
      }
      return;
    }
    if (walked.has(v)) return;
    walked.add(v);
    stack.push(v);
    add(fileOf(v.ref, 'playlist', false));
    if (v.live) live = true;
    for (const c of v.children) {
      if (typeof c === 'string') walk(visited.get(c) as Visited);
      else add(c);
    }
    stack.pop();
  };
  walk(visited.get(entry.ref) as Visited);
  return {
    playlistsDigest: live ? playlistsDigest(visited.values(), keepQuery) : '',
    files,
    runs,
    playlists: visited.size,
    refused: [...refused.values()],
    refusedCount: refusedUris.size,
    skipped: [...skipped.values()],
    skippedCount: skippedUris.size,
    live,
  };
}

/** CrawlResult.playlistsDigest, in name order: playlists load concurrently, in no fixed order. */
function playlistsDigest(visited: Iterable<Visited>, keepQuery: boolean): string {
  const named = [...visited].map((v) => [keepQuery ? v.ref.ref : v.ref.path, v.textHash ?? ''] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const digest = createHash('sha1');
  for (const [name, hash] of named) digest.update(name).update('\0').update(hash).update('\n');
  return digest.digest('hex');
}
