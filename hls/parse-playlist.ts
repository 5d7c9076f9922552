/**
 * Turns playlist text into the URIs it references, using m3u8-parser and
 * closing its gaps with its own hooks: EXT-X-SESSION-DATA, EXT-X-SESSION-KEY,
 * EXT-X-IMAGE-STREAM-INF and EXT-X-GAP through `addParser`, and EXT-X-DEFINE
 * substitution of every occurrence (m3u8-parser replaces only the first) after
 * parsing, using the definitions it resolved (NAME, IMPORT, QUERYPARAM).
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

function uriAttribute(line: string): string | undefined {
  return /URI="([^"]*)"/.exec(line)?.[1];
}

/** Parses `text`; throws PermanentError naming the problem when it is not a usable playlist. */
export function parsePlaylist(text: string, where: string, ctx: ParseContext = {}): ParsedPlaylist {
  const body = text.replace(/^\uFEFF/, '');
  if (!body.trimStart().startsWith('#EXTM3U')) {
    throw new PermanentError(`${where} is not an HLS playlist: it does not start with #EXTM3U`);
  }
  const parser = new Parser({ uri: ctx.url, mainDefinitions: { ...(ctx.imported ?? {}) } });
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
  collect(/^#EXT-X-SESSION-KEY:/, 'sessionKey', 'file', 'session-key');
  collect(/^#EXT-X-IMAGE-STREAM-INF:/, 'imageStream', 'playlist', 'image');
  parser.addParser({ expression: /^#EXT-X-GAP\b/, customType: 'gap', segment: true, dataParser: () => true });
  try {
    parser.push(body);
    parser.end();
  } catch (err) {
    throw new PermanentError(`${where} is a malformed playlist: ${(err as Error).message}`, { cause: err });
  }
  const m = parser.manifest;
  const definitions: Record<string, string> = { ...((m as { definitions?: Record<string, string> }).definitions ?? {}) };
  const refs: PlaylistReference[] = [];
  const isMaster = (m.playlists?.length ?? 0) > 0 || hasMediaGroupUris(m.mediaGroups) || (m.iFramePlaylists?.length ?? 0) > 0;
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
  } else {
    for (const seg of m.segments ?? []) refs.push(...segmentReferences(seg));
    if (m.preloadSegment) refs.push(...segmentReferences(m.preloadSegment, true));
  }
  refs.push(...extra);
  return {
    type: isMaster ? 'master' : 'media',
    references: refs.map((r) => ({ ...r, uri: substitute(r.uri, definitions, where) })),
    endList: isMaster || m.endList === true,
    definitions,
  };
}

function segmentReferences(seg: ParsedSegment & { custom?: { gap?: boolean }; preloadHints?: Array<Record<string, unknown>> }, preload = false): PlaylistReference[] {
  const out: PlaylistReference[] = [];
  if (seg.key?.uri && seg.key.method !== 'NONE') out.push({ uri: seg.key.uri, kind: 'file', role: 'key' });
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

/** Replaces every `{$name}` (RFC 8216bis 4.3); an undefined variable fails the playlist. */
function substitute(uri: string, definitions: Record<string, string>, where: string): string {
  return uri.replace(VARIABLE, (whole, name: string) => {
    const value = definitions[name];
    if (value === undefined) throw new PermanentError(`${where} uses undefined variable ${whole}`);
    return value;
  });
}

function hasMediaGroupUris(groups: Record<string, Record<string, Record<string, { uri?: string }>>> | undefined): boolean {
  return Object.values(groups ?? {}).some((g) => Object.values(g).some((r) => Object.values(r).some((x) => !!x.uri)));
}
