/**
 * File groups: which file indexes each playlist (rendition) of a class brought
 * in, from the crawl to the `class crawled` message and the class state. They
 * are for views only: bounded, clipped, optional, and never able to fail the
 * message that counts a class.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawlClass } from '../hls/crawl-class.js';
import { fileGroupsOf } from '../hls/file-groups.js';
import { HttpSourceReader } from '../storage/source-reader.js';
import { SourceRoot } from '../storage/source-root.js';
import { classCrawledSchema, MAX_FILE_GROUPS, parseMessage } from '../streams/messages.js';
import { ClassProgress } from '../tracking/class-progress.js';
import { startOrigin, type Origin } from './helpers/origin.js';

const media = (names: string[]) => ['#EXTM3U', '#EXT-X-TARGETDURATION:2', ...names.flatMap((n) => ['#EXTINF:2,', n]), '#EXT-X-ENDLIST', ''].join('\n');

describe('crawler - file groups', () => {
  let origin: Origin;
  beforeAll(async () => {
    origin = await startOrigin({
      // Three renditions; the audio one shares a segment with 'hi', which keeps its first index.
      '/vod/c/master.m3u8': ['#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', 'lo/index.m3u8', '#EXT-X-STREAM-INF:BANDWIDTH=2', 'hi/index.m3u8', '#EXT-X-STREAM-INF:BANDWIDTH=3', 'audio/index.m3u8', ''].join('\n'),
      '/vod/c/lo/index.m3u8': media(['0.ts', '1.ts', '2.ts']),
      '/vod/c/hi/index.m3u8': media(['0.ts', '1.ts']),
      '/vod/c/audio/index.m3u8': media(['a.aac', '../hi/1.ts']),
    });
  });
  afterAll(async () => origin?.close());

  it('crawler - each playlist’s files are one run of indexes, tiling the class in crawl order', async () => {
    const root = new SourceRoot({ kind: 'http', root: `${origin.url}/vod/` });
    const r = await crawlClass(root.fromRef('c/master.m3u8'), { reader: new HttpSourceReader(root), root }, { maxPlaylistBytes: 1 << 20, maxDepth: 4, maxFiles: 100, concurrency: 4 });
    expect(r.files.map((f) => f.path)).toEqual([
      'c/master.m3u8', 'c/lo/index.m3u8', 'c/lo/0.ts', 'c/lo/1.ts', 'c/lo/2.ts', 'c/hi/index.m3u8', 'c/hi/0.ts', 'c/hi/1.ts', 'c/audio/index.m3u8', 'c/audio/a.aac',
    ]);
    expect(fileGroupsOf(r.runs)).toEqual([
      { name: 'master.m3u8', from: 0, count: 1 },
      { name: 'lo/index.m3u8', from: 1, count: 4 },
      { name: 'hi/index.m3u8', from: 5, count: 3 },
      { name: 'audio/index.m3u8', from: 8, count: 2 },
    ]);
  });

  it('crawler - groups are bounded, and long or unprintable names are clipped', () => {
    const runs = Array.from({ length: 100 }, (_, i) => ({ playlist: i === 0 ? 'x/master.m3u8' : `x/r${i}/${i === 1 ? 'a'.repeat(200) : 'index\n'}.m3u8`, from: i * 10, count: 10 }));
    const groups = fileGroupsOf(runs);
    expect(groups).toHaveLength(MAX_FILE_GROUPS);
    expect(groups.at(-1)).toEqual({ name: '… 37 more playlists', from: 630, count: 370 });
    expect(groups[1]?.name).toHaveLength(80);
    expect(groups[1]?.name).toMatch(/^…a+\.m3u8$/);
    expect(groups[2]?.name).toBe('r2/index?.m3u8');
  });

  it('crawler - a class crawled message without groups, or with nonsense ones, still counts the class', () => {
    const base = { classId: 'c', runId: '1-a', total: 10, playlists: 1, startedAt: new Date().toISOString() };
    const parse = (m: object) => parseMessage(classCrawledSchema, Buffer.from(JSON.stringify(m)), 'class crawled');
    expect(parse(base).groups).toBeUndefined();
    const tooMany = Array.from({ length: MAX_FILE_GROUPS + 1 }, (_, i) => ({ name: 'g', from: i, count: 1 }));
    expect(parse({ ...base, groups: tooMany })).toMatchObject({ total: 10, groups: undefined });
    expect(parse({ ...base, groups: [{ name: 'x'.repeat(500), from: 0, count: 10 }] }).groups).toBeUndefined();
    expect(parse({ ...base, groups: [{ name: 'g', from: 0, count: 10 }] }).groups).toEqual([{ name: 'g', from: 0, count: 10 }]);
  });

  it('aggregator - the class state keeps the groups, and a state from before them loads', () => {
    const startedAt = new Date().toISOString();
    const p = new ClassProgress('c', '1-a', startedAt);
    p.applyCrawled(parseMessage(classCrawledSchema, Buffer.from(JSON.stringify({ classId: 'c', runId: '1-a', total: 3, playlists: 2, startedAt, groups: [{ name: 'm', from: 0, count: 1 }, { name: 'r', from: 1, count: 2 }] })), 'x'), startedAt);
    const json = p.toJSON();
    expect(json.groups).toEqual([{ name: 'm', from: 0, count: 1 }, { name: 'r', from: 1, count: 2 }]);
    expect(ClassProgress.fromJSON(JSON.parse(JSON.stringify(json))).groups).toEqual(json.groups);
    const { groups: _, ...old } = json;
    const loaded = ClassProgress.fromJSON(JSON.parse(JSON.stringify(old)));
    expect(loaded.groups).toBeUndefined();
    expect(JSON.parse(JSON.stringify(loaded.toJSON()))).toEqual(JSON.parse(JSON.stringify(old)));
  });
});
