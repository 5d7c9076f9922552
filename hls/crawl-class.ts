/**
 * Crawls one class: the entry playlist and every playlist it references, with
 * bounded concurrency, depth and size. Returns every distinct file (playlists
 * included) in a deterministic order, so that a re-crawl gives each file the
 * same index, plus every URI refused or skipped, with why.
 */
import type { Refusal } from '../streams/messages.js';
import { PermanentError, RefusedUriError } from '../storage/errors.js';
import type { SourceReader } from '../storage/source-reader.js';
import { redactUri, UNFETCHABLE_SCHEMES, type SourceRef, type SourceRoot } from '../storage/source-root.js';
import { parsePlaylist, type ParsedPlaylist } from './parse-playlist.js';

/** Crawl limits; generous defaults come from configuration. */
export interface CrawlLimits {
  readonly maxPlaylistBytes: number;
  readonly maxDepth: number;
  readonly maxFiles: number;
  readonly concurrency: number;
}

/** One file to copy. */
export interface CrawledFile {
  /** Root-relative reference, percent-encoded, query kept: what the Lambda fetches. */
  readonly ref: string;
  /** Root-relative path, decoded, no query: the destination key suffix. */
  readonly path: string;
  readonly role: string;
  /** True when every reference to the file allows it to be missing (EXT-X-GAP, preload hint). */
  readonly optional: boolean;
}

/** Everything one crawl found. */
export interface CrawlResult {
  readonly files: readonly CrawledFile[];
  readonly playlists: number;
  readonly refused: readonly Refusal[];
  readonly skipped: readonly Refusal[];
  /** True when some media playlist has no EXT-X-ENDLIST. */
  readonly live: boolean;
}

interface Visited {
  readonly ref: SourceRef;
  readonly depth: number;
  /** Definitions of the playlist that first referenced this one, for EXT-X-DEFINE:IMPORT. */
  readonly imported: Readonly<Record<string, string>>;
  parsed?: ParsedPlaylist;
  children: Array<{ ref: SourceRef; kind: 'playlist' | 'file'; role: string; optional: boolean }>;
}

/** Crawls from `entry`. Throws PermanentError (class fails) or anything else (retry the crawl). */
export async function crawlClass(
  entry: SourceRef,
  deps: { reader: SourceReader; root: SourceRoot },
  limits: CrawlLimits,
  signal?: AbortSignal,
): Promise<CrawlResult> {
  const visited = new Map<string, Visited>();
  // Keyed by URI: m3u8-parser repeats a key or map on every segment it covers.
  const refused = new Map<string, Refusal>();
  const skipped = new Map<string, Refusal>();
  const queue: Visited[] = [];
  const enqueue = (ref: SourceRef, depth: number, imported: Readonly<Record<string, string>>) => {
    if (visited.has(ref.ref)) return;
    if (depth > limits.maxDepth) {
      throw new PermanentError(`playlist nesting is deeper than FLANTS_MAX_DEPTH=${limits.maxDepth} at ${ref.path}`);
    }
    const v: Visited = { ref, depth, imported, children: [] };
    visited.set(ref.ref, v);
    queue.push(v);
  };
  enqueue(entry, 0, {});

  const load = async (v: Visited) => {
    const text = await deps.reader.readText(v.ref, limits.maxPlaylistBytes, signal);
    v.parsed = parsePlaylist(text, v.ref.path, { url: v.ref.url.href, imported: v.imported });
    for (const r of v.parsed.references) {
      const scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(r.uri)?.[1]?.toLowerCase();
      if (scheme && UNFETCHABLE_SCHEMES.has(scheme)) {
        const uri = redactUri(r.uri);
        skipped.set(uri, { uri, reason: `${r.role} URI uses ${scheme}, which is not a file to copy` });
        continue;
      }
      let ref: SourceRef;
      try {
        ref = deps.root.resolve(r.uri, v.ref.url);
      } catch (err) {
        if (!(err instanceof RefusedUriError)) throw err;
        const uri = redactUri(r.uri);
        if (!refused.has(uri)) refused.set(uri, { uri, reason: `${r.role} in ${v.ref.path}: ${err.message}` });
        continue;
      }
      v.children.push({ ref, kind: r.kind, role: r.role, optional: r.optional === true });
      if (r.kind === 'playlist') enqueue(ref, v.depth + 1, v.parsed.definitions);
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
      while (active < limits.concurrency && queue.length > 0) {
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
  const seen = new Map<string, number>();
  let live = false;
  const stack: Visited[] = [];
  const add = (ref: SourceRef, role: string, optional: boolean) => {
    const at = seen.get(ref.path);
    if (at !== undefined) {
      // A file some playlist requires is required, whoever else calls it optional.
      const f = files[at] as CrawledFile;
      if (f.optional && !optional) files[at] = { ...f, optional: false };
      return;
    }
    seen.set(ref.path, files.length);
    files.push({ ref: ref.ref, path: ref.path, role, optional });
    if (files.length > limits.maxFiles) {
      throw new PermanentError(`class references more than FLANTS_MAX_FILES_PER_CLASS=${limits.maxFiles} files`);
    }
  };
  const walk = (v: Visited, role: string) => {
    if (stack.includes(v)) {
      const uri = v.ref.path;
      skipped.set(`cycle:${uri}`, { uri, reason: `playlist cycle: ${stack.at(-1)?.ref.path} references its ancestor ${uri}` });
      return;
    }
    stack.push(v);
    add(v.ref, role, false);
    if (v.parsed?.type === 'media' && !v.parsed.endList) live = true;
    for (const c of v.children) {
      const child = c.kind === 'playlist' ? visited.get(c.ref.ref) : undefined;
      if (child) walk(child, 'playlist');
      else add(c.ref, c.role, c.optional);
    }
    stack.pop();
  };
  walk(visited.get(entry.ref) as Visited, 'playlist');
  return { files, playlists: visited.size, refused: [...refused.values()], skipped: [...skipped.values()], live };
}
