/**
 * Turns a crawl's playlist runs into the bounded `groups` of a `class crawled`
 * message: names relative to the entry playlist's folder, clipped, and at most
 * MAX_FILE_GROUPS of them. The groups only tell live views which rendition a
 * file index belongs to; no count depends on them.
 */
import { MAX_FILE_GROUPS, MAX_GROUP_NAME_CHARS, type FileGroup } from '../streams/messages.js';
import type { PlaylistRun } from './crawl-class.js';

function nameOf(playlist: string, folder: string): string {
  // Paths are decoded, so a %0A in a playlist name arrives as a real newline.
  const name = (playlist.startsWith(folder) ? playlist.slice(folder.length) : playlist).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  // The end of a path tells renditions apart (`…/720p/index.m3u8`), so that is what stays.
  return name.length > MAX_GROUP_NAME_CHARS ? `…${name.slice(name.length - MAX_GROUP_NAME_CHARS + 1)}` : name;
}

/** The groups for `runs`, which tile the class's files in order, the entry playlist's run first. */
export function fileGroupsOf(runs: readonly PlaylistRun[], max = MAX_FILE_GROUPS): FileGroup[] {
  const entry = runs[0]?.playlist ?? '';
  const folder = entry.slice(0, entry.lastIndexOf('/') + 1);
  const groups = runs.slice(0, runs.length > max ? max - 1 : max).map((r) => ({ name: nameOf(r.playlist, folder), from: r.from, count: r.count }));
  if (runs.length > max) {
    // A class of very many playlists: the tail shares one group rather than making the message unbounded.
    const rest = runs.slice(max - 1);
    const from = (rest[0] as PlaylistRun).from;
    const last = rest.at(-1) as PlaylistRun;
    groups.push({ name: `… ${rest.length} more playlists`, from, count: last.from + last.count - from });
  }
  return groups;
}
