/**
 * Turns playlist text into the URIs it references, using m3u8-parser and
 * closing its gaps:
 * - a pass over the raw lines before m3u8-parser checks the #EXTM3U line,
 *   applies EXT-X-DEFINE in document order (a variable exists only after its
 *   definition, and each name is defined once), and collects every EXT-X-KEY
 *   and EXT-X-SESSION-KEY, since m3u8-parser keeps only the last key before a
 *   segment and moves DRM keys (FairPlay, PlayReady, Widevine) elsewhere;
 * - its own `addParser` hooks for EXT-X-SESSION-DATA, EXT-X-IMAGE-STREAM-INF
 *   and EXT-X-GAP.
 */
import { Parser, type ParsedSegment } from 'm3u8-parser';
import { PermanentError } from '../storage/errors.js';

/** Why a file is referenced, for reports. */
export type ReferenceRole =
  | 'variant' | 'rendition' | 'iframe' | 'image' | 'session-data' | 'session-key'
  | 'segment' | 'map' | 'key' | 'part' | 'preload-hint';

/** A URI a playlist references, after variable substitution, before resolution. */
export interface PlaylistReference {
  readonly uri: string;
  /** `playlist` references are crawled; `file` references are only copied. */
  readonly kind: 'playlist' | 'file';
  readonly role: ReferenceRole;
  /** A file that may legitimately be missing: an EXT-X-GAP segment, a GAP part, a preload hint. */
  readonly optional?: boolean;
}

/** What one playlist references, in playlist order. */
export interface ParsedPlaylist {
  readonly type: 'master' | 'media';
  readonly references: readonly PlaylistReference[];
  /** Media playlists only: false means live or an unfinished recording. */
  readonly endList: boolean;
  /** Variables this playlist defines; media playlists may IMPORT a master's. */
  readonly definitions: Readonly<Record<string, string>>;
}

/** Where a playlist sits, for QUERYPARAM and IMPORT. */
export interface ParseContext {
  /** The playlist's own URL (its query feeds EXT-X-DEFINE:QUERYPARAM). */
  readonly url?: string;
  /** The master playlist's definitions (feed EXT-X-DEFINE:IMPORT). */
  readonly imported?: Readonly<Record<string, string>>;
}

const VARIABLE = /\{\$([A-Za-z0-9_-]+)\}/g;
/** Tags that only a master (multivariant) playlist holds. */
const MASTER_TAG = /^#EXT-X-(?:STREAM-INF|I-FRAME-STREAM-INF|IMAGE-STREAM-INF|MEDIA|SESSION-DATA|SESSION-KEY|CONTENT-STEERING)(?::|$)/;

function uriAttribute(line: string): string | undefined {
  return /URI="([^"]*)"/.exec(line)?.[1];
}

/** The attributes of a tag line, quotes removed. */
function attributes(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const list = line.slice(line.indexOf(':') + 1);
  for (const [, name, value = ''] of list.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) {
    if (name) out[name] = value.startsWith('"') ? value.slice(1, -1) : value;
  }
  return out;
}

/** A key reference, and the index of the segment it first applies to. */
interface KeyAt {
  readonly at: number;
  readonly ref: PlaylistReference;
}

/** What the pass over the raw lines found. */
interface RawScan {
  /** The text m3u8-parser reads: variables substituted, EXT-X-DEFINE lines blanked. */
  readonly text: string;
  readonly definitions: Record<string, string>;
  readonly keys: KeyAt[];
  readonly sessionKeys: PlaylistReference[];
  readonly masterTags: boolean;
  readonly variants: number;
}

/** Parses `text`; throws PermanentError naming the problem when it is not a usable playlist. */
export function parsePlaylist(text: string, where: string, ctx: ParseContext = {}): ParsedPlaylist {
  const scan = scanLines(text, where, ctx);
  const parser = new Parser();
  // Custom tags of the manifest itself keep only their last value in
  // m3u8-parser, so each parser collects its lines here instead.
  const extra: PlaylistReference[] = [];
  const collect = (expression: RegExp, customType: string, kind: 'playlist' | 'file', role: ReferenceRole) =>
    parser.addParser({
      expression,
      customType,
      dataParser: (line) => {
        const uri = uriAttribute(line);
        if (uri) extra.push({ uri, kind, role });
        return line;
      },
    });
  collect(/^#EXT-X-SESSION-DATA:/, 'sessionData', 'file', 'session-data');
  collect(/^#EXT-X-IMAGE-STREAM-INF:/, 'imageStream', 'playlist', 'image');
  parser.addParser({ expression: /^#EXT-X-GAP\b/, customType: 'gap', segment: true, dataParser: () => true });
  try {
    parser.push(scan.text);
    parser.end();
  } catch (err) {
    throw new PermanentError(`${where} is a malformed playlist: ${(err as Error).message}`, { cause: err });
  }
  const m = parser.manifest;
  const refs: PlaylistReference[] = [];
  const segments = m.segments ?? [];
  const isMaster =
    (m.playlists?.length ?? 0) > 0 || hasMediaGroupUris(m.mediaGroups) || (m.iFramePlaylists?.length ?? 0) > 0 ||
    (scan.masterTags && segments.length === 0 && !m.preloadSegment);
  // A master playlist without EXT-X-STREAM-INF (say, only EXT-X-SESSION-DATA)
  // has nothing a player can start. Copying its side files and reporting the
  // class complete would hide that the video is missing, so the class fails.
  if (isMaster && scan.variants === 0) {
    throw new PermanentError(`${where}: master playlist lists no variants (no EXT-X-STREAM-INF), so it has nothing to play`);
  }
  if (isMaster) {
    for (const p of m.playlists ?? []) if (p.uri) refs.push({ uri: p.uri, kind: 'playlist', role: 'variant' });
    for (const [type, groups] of Object.entries(m.mediaGroups ?? {})) {
      // CLOSED-CAPTIONS are carried in the video; they never have a URI.
      if (type === 'CLOSED-CAPTIONS') continue;
      for (const group of Object.values(groups)) {
        for (const rendition of Object.values(group)) {
          if (rendition.uri) refs.push({ uri: rendition.uri, kind: 'playlist', role: 'rendition' });
        }
      }
    }
    for (const p of m.iFramePlaylists ?? []) if (p.uri) refs.push({ uri: p.uri, kind: 'playlist', role: 'iframe' });
    refs.push(...scan.keys.map((k) => k.ref));
  } else {
    // Each key comes before the first segment it applies to, as in the playlist.
    let k = 0;
    segments.forEach((seg, i) => {
      for (; k < scan.keys.length && (scan.keys[k] as KeyAt).at <= i; k++) refs.push((scan.keys[k] as KeyAt).ref);
      refs.push(...segmentReferences(seg));
    });
    for (; k < scan.keys.length; k++) refs.push((scan.keys[k] as KeyAt).ref);
    if (m.preloadSegment) refs.push(...segmentReferences(m.preloadSegment, true));
  }
  refs.push(...scan.sessionKeys, ...extra);
  return {
    type: isMaster ? 'master' : 'media',
    references: refs,
    endList: isMaster || m.endList === true,
    definitions: scan.definitions,
  };
}

/**
 * One pass over the lines, in document order. Checks the first line, applies
 * EXT-X-DEFINE (RFC 8216bis 4.4.2.3: NAME, IMPORT, QUERYPARAM) and
 * substitutes each `{$name}` in URI lines and quoted attribute values with the
 * value defined above it, and collects every key tag.
 */
function scanLines(text: string, where: string, ctx: ParseContext): RawScan {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = body.split('\n');
  // RFC 8216 4.3.1.1: the first line is the tag and nothing else. A prefix
  // check would accept "#EXTM3U#EXT-X-STREAM-INF:..." and lose that variant.
  if (!/^#EXTM3U[ \t\r]*$/.test(lines[0] ?? '')) {
    const glued = (lines[0] ?? '').startsWith('#EXTM3U');
    throw new PermanentError(
      `${where} is not an HLS playlist: its first line must be exactly #EXTM3U${glued ? ', and it has more on that line' : ''}`,
    );
  }
  const definitions: Record<string, string> = {};
  const keys: KeyAt[] = [];
  const sessionKeys: PlaylistReference[] = [];
  let masterTags = false;
  let variants = 0;
  let segment = 0;
  let changed = false;
  const define = (name: string, value: string) => {
    if (Object.hasOwn(definitions, name)) throw new PermanentError(`${where} defines variable "${name}" more than once`);
    definitions[name] = value;
  };
  const substitute = (s: string) =>
    s.replace(VARIABLE, (whole, name: string) => {
      const value = definitions[name];
      if (value === undefined) throw new PermanentError(`${where} uses undefined variable ${whole}`);
      changed = true;
      return value;
    });
  for (let i = 1; i < lines.length; i++) {
    // m3u8-parser trims each line too.
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    if (!line.startsWith('#')) {
      if (line.includes('{$')) lines[i] = substitute(line);
      segment++;
      continue;
    }
    if (!line.startsWith('#EXT')) continue; // a comment
    if (line.startsWith('#EXT-X-DEFINE:')) {
      const a = attributes(line);
      if (a.NAME !== undefined) define(a.NAME, a.VALUE ?? '');
      else if (a.IMPORT !== undefined) {
        const value = ctx.imported?.[a.IMPORT];
        if (value === undefined) throw new PermanentError(`${where} imports variable "${a.IMPORT}", which no master playlist above it defines`);
        define(a.IMPORT, value);
      } else if (a.QUERYPARAM !== undefined) {
        const value = ctx.url ? new URL(ctx.url).searchParams.get(a.QUERYPARAM) : null;
        if (value === null) throw new PermanentError(`${where} defines variable "${a.QUERYPARAM}" from a query parameter its URL lacks`);
        define(a.QUERYPARAM, value);
      } else {
        throw new PermanentError(`${where} has an EXT-X-DEFINE without NAME, IMPORT or QUERYPARAM`);
      }
      lines[i] = ''; // applied here; m3u8-parser would apply it again, out of order
      changed = true;
      continue;
    }
    if (line.includes('{$')) lines[i] = line.replace(/"[^"]*"/g, substitute);
    const tag = lines[i] as string;
    if (MASTER_TAG.test(tag)) masterTags = true;
    if (tag.startsWith('#EXT-X-STREAM-INF:')) variants++;
    const session = tag.startsWith('#EXT-X-SESSION-KEY:');
    if (session || tag.startsWith('#EXT-X-KEY:')) {
      const a = attributes(tag);
      // METHOD=NONE has no URI; a key without a URI has nothing to copy.
      if (a.METHOD === 'NONE' || !a.URI) continue;
      if (session) sessionKeys.push({ uri: a.URI, kind: 'file', role: 'session-key' });
      else keys.push({ at: segment, ref: { uri: a.URI, kind: 'file', role: 'key' } });
    }
  }
  return { text: changed ? lines.join('\n') : body, definitions, keys, sessionKeys, masterTags, variants };
}

function segmentReferences(seg: ParsedSegment & { custom?: { gap?: boolean }; preloadHints?: Array<Record<string, unknown>> }, preload = false): PlaylistReference[] {
  const out: PlaylistReference[] = [];
  if (seg.map?.uri) out.push({ uri: seg.map.uri, kind: 'file', role: 'map' });
  for (const part of seg.parts ?? []) {
    const p = part as Record<string, unknown>;
    const uri = (p.URI ?? p.uri) as string | undefined;
    if (uri) out.push({ uri, kind: 'file', role: 'part', optional: p.GAP === true || p.GAP === 'YES' || p.gap === true });
  }
  for (const hint of seg.preloadHints ?? []) {
    const uri = (hint.URI ?? hint.uri) as string | undefined;
    // A preload hint names a resource the packager has not finished yet.
    if (uri) out.push({ uri, kind: 'file', role: 'preload-hint', optional: true });
  }
  if (seg.uri && !preload) out.push({ uri: seg.uri, kind: 'file', role: 'segment', optional: seg.custom?.gap === true || seg.gap === true });
  return out;
}

function hasMediaGroupUris(groups: Record<string, Record<string, Record<string, { uri?: string }>>> | undefined): boolean {
  return Object.values(groups ?? {}).some((g) => Object.values(g).some((r) => Object.values(r).some((x) => !!x.uri)));
}
