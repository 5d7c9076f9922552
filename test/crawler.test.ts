/**
 * Crawler: URI resolution, safety and the jobs it derives, against a real
 * HTTP origin (and a second "foreign" origin that must never be contacted).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawlClass, type CrawlLimits } from '../hls/crawl-class.js';
import { parsePlaylist } from '../hls/parse-playlist.js';
import { RefusedUriError } from '../storage/errors.js';
import { HttpSourceReader } from '../storage/source-reader.js';
import { SourceRoot } from '../storage/source-root.js';
import { destKeyFor } from '../actors/crawler.js';
import { startOrigin, type Origin } from './helpers/origin.js';

const limits: CrawlLimits = { maxPlaylistBytes: 1 << 20, maxDepth: 4, maxFiles: 10_000, concurrency: 4 };

describe('crawler - URI resolution', () => {
  const root = new SourceRoot({ kind: 'http', root: 'https://cdn.example.com/vod/' });
  const base = new URL('https://cdn.example.com/vod/c1/hd/index.m3u8');

  it('crawler - resolves relative URIs against the playlist that holds them', () => {
    expect(root.resolve('seg1.ts', base).path).toBe('c1/hd/seg1.ts');
    expect(root.resolve('../audio/en.m3u8', base).path).toBe('c1/audio/en.m3u8');
    expect(root.resolve('/vod/c1/key.bin', base).path).toBe('c1/key.bin');
  });

  it('crawler - follows absolute URIs on the same origin and keeps the query for fetching only', () => {
    const ref = root.resolve('https://cdn.example.com/vod/c1/hd/seg2.ts?token=s3cr3t', base);
    expect(ref.path).toBe('c1/hd/seg2.ts');
    expect(ref.ref).toBe('c1/hd/seg2.ts?token=s3cr3t');
    expect(destKeyFor(ref.ref, ref.path, false)).toBe('c1/hd/seg2.ts');
    expect(destKeyFor(ref.ref, ref.path, true)).toBe('c1/hd/seg2.ts?token=s3cr3t');
  });

  it('crawler - decodes percent-encoding into the destination path', () => {
    expect(root.resolve('my%20seg%231.ts', base).path).toBe('c1/hd/my seg#1.ts');
  });

  it.each([
    ['https://evil.example.com/vod/x.ts', /host evil.example.com/],
    ['http://cdn.example.com/vod/x.ts', /scheme http:/],
    ['file:///etc/passwd', /scheme file:/],
    ['http://169.254.169.254/latest/meta-data/', /link-local or metadata/],
    ['https://169.254.169.254/vod/x.ts', /link-local or metadata/],
    ['https://[fe80::1]/vod/x.ts', /link-local or metadata/],
    ['https://metadata.google.internal/computeMetadata/v1/', /link-local or metadata/],
    ['../../../../etc/passwd', /outside the source prefix/],
    ['https://cdn.example.com/other/x.ts', /outside the source prefix/],
    ['%2e%2e/%2e%2e/%2e%2e/secret.ts', /outside the source prefix|climbs/],
    ['a%2f..%2f..%2f..%2fsecret.ts', /climbs/],
    ['https://user:pw@cdn.example.com/vod/x.ts', /credentials/],
  ])('crawler - refuses %s', (uri, reason) => {
    expect(() => root.resolve(uri, base)).toThrow(RefusedUriError);
    expect(() => root.resolve(uri, base)).toThrow(reason);
  });

  it('crawler - s3 sources resolve inside their bucket and prefix only', () => {
    const s3root = new SourceRoot({ kind: 's3', bucket: 'src-bucket', prefix: 'lib/' });
    const b = new URL('s3://src-bucket/lib/c1/master.m3u8');
    expect(s3root.resolve('hd/index.m3u8', b).path).toBe('c1/hd/index.m3u8');
    expect(() => s3root.resolve('s3://other-bucket/lib/x.ts', b)).toThrow(/bucket other-bucket/);
    expect(() => s3root.resolve('../../x.ts', b)).toThrow(/outside the source prefix/);
  });
});

describe('crawler - playlists and jobs', () => {
  let origin: Origin;
  let foreign: Origin;

  beforeAll(async () => {
    foreign = await startOrigin({ '/steal.ts': 'secret' });
    origin = await startOrigin({
      '/vod/c1/master.m3u8': [
        '#EXTM3U',
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="en",DEFAULT=YES,URI="audio/en/index.m3u8"',
        '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="cc1",INSTREAM-ID="CC1"',
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,AUDIO="aud"',
        'sd/index.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=2400000,AUDIO="aud"',
        'hd/index.m3u8?sig=abc',
        '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="hd/iframes.m3u8"',
        '',
      ].join('\n'),
      '/vod/c1/sd/index.m3u8': [
        '#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXT-X-VERSION:7',
        '#EXT-X-MAP:URI="init.mp4"',
        '#EXT-X-KEY:METHOD=AES-128,URI="../keys/k1.bin"',
        '#EXTINF:4,', 'seg0.m4s',
        '#EXTINF:4,', 'seg1.m4s',
        '#EXT-X-KEY:METHOD=NONE',
        '#EXTINF:4,', `${foreign.url}/steal.ts`,
        '#EXTINF:4,', 'seg2.m4s',
        '#EXT-X-ENDLIST', '',
      ].join('\n'),
      '/vod/c1/hd/index.m3u8': [
        '#EXTM3U', '#EXT-X-TARGETDURATION:4',
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key-server/k1"',
        '#EXT-X-BYTERANGE:1000@0', '#EXTINF:4,', 'all.ts',
        '#EXT-X-BYTERANGE:1000@1000', '#EXTINF:4,', 'all.ts',
        '#EXT-X-BYTERANGE:1000', '#EXTINF:4,', 'all.ts',
        '#EXT-X-ENDLIST', '',
      ].join('\n'),
      '/vod/c1/hd/iframes.m3u8': ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXT-X-BYTERANGE:500@0', '#EXTINF:4,', 'all.ts', '#EXT-X-ENDLIST', ''].join('\n'),
      '/vod/c1/audio/en/index.m3u8': ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 'a0.aac', '#EXTINF:4,', '../../sd/seg0.m4s', '#EXT-X-ENDLIST', ''].join('\n'),
      '/vod/bad/master.m3u8': '<html>not a playlist</html>',
      '/vod/loop/master.m3u8': ['#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', 'master.m3u8', '#EXT-X-STREAM-INF:BANDWIDTH=2', 'child.m3u8', ''].join('\n'),
      '/vod/loop/child.m3u8': ['#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', 'master.m3u8', ''].join('\n'),
      '/vod/live/index.m3u8': ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 's0.ts', ''].join('\n'),
    });
  });

  afterAll(async () => {
    await origin?.close();
    await foreign?.close();
  });

  const crawl = (entry: string) => {
    const root = new SourceRoot({ kind: 'http', root: `${origin.url}/vod/` });
    return crawlClass(root.fromRef(entry), { reader: new HttpSourceReader(root), root }, limits);
  };

  it('crawler - emits one job per distinct file, playlists included, in a stable order', async () => {
    const result = await crawl('c1/master.m3u8');
    expect(result.files.map((f) => f.path)).toEqual([
      'c1/master.m3u8',
      'c1/sd/index.m3u8',
      'c1/keys/k1.bin',
      'c1/sd/init.mp4',
      'c1/sd/seg0.m4s',
      'c1/sd/seg1.m4s',
      'c1/sd/seg2.m4s',
      'c1/hd/index.m3u8',
      'c1/hd/all.ts',
      'c1/audio/en/index.m3u8',
      'c1/audio/en/a0.aac',
      'c1/hd/iframes.m3u8',
    ]);
    const again = await crawl('c1/master.m3u8');
    expect(again.files).toEqual(result.files);
    expect(result.playlists).toBe(5);
    expect(result.live).toBe(false);
  });

  it('crawler - keeps the query string on the fetch reference', async () => {
    const result = await crawl('c1/master.m3u8');
    expect(result.files.find((f) => f.path === 'c1/hd/index.m3u8')?.ref).toBe('c1/hd/index.m3u8?sig=abc');
  });

  it('crawler - refuses a foreign URI with a reason and never requests it', async () => {
    const result = await crawl('c1/master.m3u8');
    expect(result.refused).toHaveLength(1);
    expect(result.refused[0]?.reason).toMatch(/segment in c1\/sd\/index.m3u8: host .* is not the source host/);
    expect(foreign.requests).toEqual([]);
  });

  it('crawler - records skd: key URIs as skipped, not fetched', async () => {
    const result = await crawl('c1/master.m3u8');
    expect(result.skipped).toEqual([{ uri: 'skd://key-server/k1', reason: expect.stringMatching(/skd:/) }]);
  });

  it('crawler - fails a class whose playlist is malformed, with the reason', async () => {
    await expect(crawl('bad/master.m3u8')).rejects.toThrow(/bad\/master.m3u8 is not an HLS playlist/);
  });

  it('crawler - fails a class whose rendition playlist is missing', async () => {
    await expect(crawl('nothing/master.m3u8')).rejects.toThrow(/HTTP 404/);
  });

  it('crawler - survives playlist cycles', async () => {
    const result = await crawl('loop/master.m3u8');
    expect(result.files.map((f) => f.path)).toEqual(['loop/master.m3u8', 'loop/child.m3u8']);
  });

  it('crawler - marks a playlist without EXT-X-ENDLIST as live', async () => {
    expect((await crawl('live/index.m3u8')).live).toBe(true);
  });

  it('crawler - a parser exception is a clear permanent error', () => {
    expect(() => parsePlaylist('#EXTM3U\n#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0x1\n#EXTINF:4,\ns.ts\n', 'x.m3u8')).toThrow(
      /x.m3u8 is a malformed playlist/,
    );
  });
});

describe('crawler - full tag coverage and limits', () => {
  let origin: Origin;
  let foreign: Origin;
  const m = (...lines: string[]) => `${lines.join('\n')}\n`;

  beforeAll(async () => {
    foreign = await startOrigin({ '/x.m3u8': m('#EXTM3U', '#EXTINF:4,', 'a.ts', '#EXT-X-ENDLIST') });
    origin = await startOrigin({
      '/vod/tags/master.m3u8': m(
        '#EXTM3U',
        '#EXT-X-DEFINE:NAME="dir",VALUE="hd"',
        '#EXT-X-SESSION-DATA:DATA-ID="com.example.title",URI="meta/title.json"',
        '#EXT-X-SESSION-DATA:DATA-ID="com.example.chapters",URI="meta/chapters.json"',
        '#EXT-X-SESSION-KEY:METHOD=AES-128,URI="keys/session.key"',
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="en",URI="subs/en.m3u8"',
        '#EXT-X-MEDIA:TYPE=VIDEO,GROUP-ID="angles",NAME="side",URI="side/index.m3u8"',
        '#EXT-X-IMAGE-STREAM-INF:BANDWIDTH=5000,RESOLUTION=320x180,CODECS="jpeg",URI="thumbs/index.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=1000,SUBTITLES="subs",VIDEO="angles"',
        '{$dir}/{$dir}.m3u8?token=t1',
      ),
      '/vod/tags/hd/hd.m3u8': m(
        '#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXT-X-VERSION:9',
        '#EXT-X-DEFINE:IMPORT="dir"',
        '#EXT-X-DEFINE:QUERYPARAM="token"',
        '#EXT-X-MAP:URI="{$dir}-init.mp4",BYTERANGE="720@0"',
        '#EXTINF:4,', '{$dir}-{$token}-0.m4s',
        '#EXT-X-GAP', '#EXTINF:4,', 'gap-1.m4s',
        '#EXTINF:4,', 'seg2.m4s',
        '#EXT-X-PART:DURATION=1,URI="part3.0.m4s"',
        '#EXT-X-PART:DURATION=1,URI="part3.1.m4s",GAP=YES',
        '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part3.2.m4s"',
      ),
      '/vod/tags/subs/en.m3u8': m('#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 'en0.vtt', '#EXT-X-ENDLIST'),
      '/vod/tags/side/index.m3u8': m('#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 's0.ts', '#EXT-X-ENDLIST'),
      '/vod/tags/thumbs/index.m3u8': m('#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXT-X-IMAGES-ONLY', '#EXT-X-TILES:RESOLUTION=64x36,LAYOUT=5x5,DURATION=1', '#EXTINF:25,', 'tile0.jpg', '#EXT-X-ENDLIST'),
      '/vod/undef/index.m3u8': m('#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', '{$nope}.ts', '#EXT-X-ENDLIST'),
      '/vod/redir/index.m3u8': m('#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', 'away.m3u8', '#EXT-X-STREAM-INF:BANDWIDTH=2', 'near.m3u8'),
      '/vod/redir/ok.m3u8': m('#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=2', 'near.m3u8'),
      '/vod/redir/near-target.m3u8': m('#EXTM3U', '#EXTINF:4,', 'n0.ts', '#EXT-X-ENDLIST'),
      '/vod/deep/0.m3u8': m('#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', '1.m3u8'),
      '/vod/deep/1.m3u8': m('#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', '2.m3u8'),
      '/vod/deep/2.m3u8': m('#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', '3.m3u8'),
      '/vod/deep/3.m3u8': m('#EXTM3U', '#EXTINF:4,', 'x.ts', '#EXT-X-ENDLIST'),
      '/vod/big/index.m3u8': m('#EXTM3U', '#EXT-X-TARGETDURATION:4', ...Array.from({ length: 50 }, (_, i) => `#EXTINF:4,\ns${i}.ts`), '#EXT-X-ENDLIST'),
      '/vod/meta/index.m3u8': m('#EXTM3U', '#EXTINF:4,', 'http://169.254.169.254/latest/meta-data/iam', '#EXT-X-ENDLIST'),
      '/vod/allow/index.m3u8': '',
    });
    origin.files.set('/vod/allow/index.m3u8', Buffer.from(m('#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', `${foreign.url}/x.m3u8`)));
    origin.redirects.set('/vod/redir/away.m3u8', `${foreign.url}/x.m3u8`);
    origin.redirects.set('/vod/redir/near.m3u8', '/vod/redir/near-target.m3u8');
  });

  afterAll(async () => {
    await origin?.close();
    await foreign?.close();
  });

  const crawl = (entry: string, over: Partial<CrawlLimits> = {}, allow: string[] = []) => {
    const root = new SourceRoot({ kind: 'http', root: `${origin.url}/vod/` }, allow);
    return crawlClass(root.fromRef(entry), { reader: new HttpSourceReader(root), root }, { ...limits, ...over });
  };

  it('crawler - covers session data and keys, subtitles, video renditions, image streams, map, parts and hints', async () => {
    const r = await crawl('tags/master.m3u8');
    const byPath = Object.fromEntries(r.files.map((f) => [f.path, f]));
    expect(Object.keys(byPath).sort()).toEqual([
      'tags/hd/hd-init.mp4', 'tags/hd/hd-t1-0.m4s', 'tags/hd/hd.m3u8', 'tags/hd/gap-1.m4s',
      'tags/hd/part3.0.m4s', 'tags/hd/part3.1.m4s', 'tags/hd/part3.2.m4s', 'tags/hd/seg2.m4s',
      'tags/keys/session.key', 'tags/master.m3u8', 'tags/meta/chapters.json', 'tags/meta/title.json',
      'tags/side/index.m3u8', 'tags/side/s0.ts', 'tags/subs/en.m3u8', 'tags/subs/en0.vtt',
      'tags/thumbs/index.m3u8', 'tags/thumbs/tile0.jpg',
    ].sort());
    expect(byPath['tags/hd/gap-1.m4s']?.optional).toBe(true);
    expect(byPath['tags/hd/part3.1.m4s']?.optional).toBe(true);
    expect(byPath['tags/hd/part3.2.m4s']?.optional).toBe(true);
    expect(byPath['tags/hd/seg2.m4s']?.optional).toBe(false);
    expect(byPath['tags/hd/hd.m3u8']?.ref).toBe('tags/hd/hd.m3u8?token=t1');
    // The LL-HLS playlist has no EXT-X-ENDLIST: the class is still being recorded.
    expect(r.live).toBe(true);
  });

  it('crawler - fails a playlist that uses an undefined variable', async () => {
    await expect(crawl('undef/index.m3u8')).rejects.toThrow(/undefined variable \{\$nope\}/);
  });

  it('crawler - refuses a redirect off the origin but follows one that stays on it', async () => {
    await expect(crawl('redir/index.m3u8')).rejects.toThrow(/redirect of redir\/away.m3u8 leaves the source/);
    expect(foreign.requests).toEqual([]);
    const r = await crawl('redir/ok.m3u8');
    expect(r.files.map((f) => f.path)).toEqual(['redir/ok.m3u8', 'redir/near.m3u8', 'redir/n0.ts']);
  });

  it('crawler - refuses link-local and metadata addresses', async () => {
    const r = await crawl('meta/index.m3u8');
    expect(r.refused[0]?.reason).toMatch(/169.254.169.254 is a link-local or metadata address/);
    expect(r.files.map((f) => f.path)).toEqual(['meta/index.m3u8']);
  });

  it('crawler - follows an allow-listed origin into its own key space, and nothing else', async () => {
    const refused = await crawl('allow/index.m3u8');
    expect(refused.refused).toHaveLength(1);
    expect(foreign.requests).toEqual([]);
    const allowed = await crawl('allow/index.m3u8', {}, [`${foreign.url}/`]);
    const host = new URL(foreign.url).host;
    expect(allowed.files.map((f) => f.path)).toEqual(['allow/index.m3u8', `${host}/x.m3u8`, `${host}/a.ts`]);
    expect(allowed.files[2]?.ref).toBe(`${foreign.url}/a.ts`);
  });

  it('crawler - enforces nesting depth, playlist size and files-per-class limits', async () => {
    await expect(crawl('deep/0.m3u8', { maxDepth: 2 })).rejects.toThrow(/deeper than FLANTS_MAX_DEPTH=2/);
    expect((await crawl('deep/0.m3u8', { maxDepth: 3 })).files).toHaveLength(5);
    await expect(crawl('big/index.m3u8', { maxPlaylistBytes: 100 })).rejects.toThrow(/over the 100-byte playlist limit/);
    await expect(crawl('big/index.m3u8', { maxFiles: 20 })).rejects.toThrow(/more than FLANTS_MAX_FILES_PER_CLASS=20/);
  });
});
