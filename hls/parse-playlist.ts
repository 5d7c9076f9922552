/**
 * Turns playlist text into the URIs it references, using m3u8-parser.
 * Coverage here: master playlists (variant streams, EXT-X-MEDIA renditions,
 * I-frame playlists) and media playlists (segments, EXT-X-MAP, EXT-X-KEY, LL-HLS parts).
 */
import { Parser } from 'm3u8-parser';
import { PermanentError } from '../storage/errors.js';

/** A URI a playlist references, as written in the playlist (unresolved). */
export interface PlaylistReference {
  readonly uri: string;
  /** `playlist` references are crawled; `file` references are only copied. */
  readonly kind: 'playlist' | 'file';
  /** Why the file is referenced, for reports. */
  readonly role: 'variant' | 'rendition' | 'iframe' | 'segment' | 'map' | 'key' | 'part';
}

/** What one playlist references, in playlist order. */
export interface ParsedPlaylist {
  readonly type: 'master' | 'media';
  readonly references: readonly PlaylistReference[];
  /** Media playlists only: false means live or unfinished. */
  readonly endList: boolean;
}

/** Parses `text`; throws PermanentError naming the problem when it is not a usable playlist. */
export function parsePlaylist(text: string, where: string): ParsedPlaylist {
  const body = text.replace(/^\uFEFF/, '');
  if (!body.trimStart().startsWith('#EXTM3U')) {
    throw new PermanentError(`${where} is not an HLS playlist: it does not start with #EXTM3U`);
  }
  const parser = new Parser();
  try {
    parser.push(body);
    parser.end();
  } catch (err) {
    throw new PermanentError(`${where} is a malformed playlist: ${(err as Error).message}`, { cause: err });
  }
  const m = parser.manifest;
  const refs: PlaylistReference[] = [];
  const isMaster = (m.playlists?.length ?? 0) > 0 || hasMediaGroupUris(m.mediaGroups);
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
    return { type: 'master', references: refs, endList: true };
  }
  for (const seg of m.segments ?? []) {
    if (seg.key?.uri && seg.key.method !== 'NONE') refs.push({ uri: seg.key.uri, kind: 'file', role: 'key' });
    if (seg.map?.uri) refs.push({ uri: seg.map.uri, kind: 'file', role: 'map' });
    for (const part of seg.parts ?? []) {
      const uri = part.URI ?? part.uri;
      if (uri) refs.push({ uri, kind: 'file', role: 'part' });
    }
    if (seg.uri) refs.push({ uri: seg.uri, kind: 'file', role: 'segment' });
  }
  return { type: 'media', references: refs, endList: m.endList === true };
}

function hasMediaGroupUris(groups: Record<string, Record<string, Record<string, { uri?: string }>>> | undefined): boolean {
  return Object.values(groups ?? {}).some((g) => Object.values(g).some((r) => Object.values(r).some((x) => !!x.uri)));
}
