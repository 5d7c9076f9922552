/** Small HLS classes for an in-memory origin (test/helpers/origin.ts). */

/** A finished VOD media playlist naming `segs`, 4 s each. */
export const mediaPlaylist = (segs: readonly string[]): string =>
  ['#EXTM3U', '#EXT-X-TARGETDURATION:4', ...segs.flatMap((s) => ['#EXTINF:4,', s]), '#EXT-X-ENDLIST', ''].join('\n');

/** Adds class `id` to `files`: `/vod/<id>/master.m3u8` naming `count` segments `s0.ts`…, each holding its own name. Returns their paths. */
export function addClass(files: Record<string, string>, id: string, count: number): string[] {
  const segs = Array.from({ length: count }, (_, i) => `s${i}.ts`);
  files[`/vod/${id}/master.m3u8`] = mediaPlaylist(segs);
  for (const s of segs) files[`/vod/${id}/${s}`] = `${id}${s}`;
  return segs.map((s) => `/vod/${id}/${s}`);
}
