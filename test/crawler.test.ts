/**
 * Crawler: URI resolution, safety and the jobs it derives, against a real
 * HTTP origin (and a second "foreign" origin that must never be contacted).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crawlClass, type CrawlLimits } from '../hls/crawl-class.js';
import { parsePlaylist } from '../hls/parse-playlist.js';
import { isPermanent, RefusedUriError } from '../storage/errors.js';
import { HttpSourceReader } from '../storage/source-reader.js';
import { isLinkLocalOrMetadata } from '../storage/link-local.js';
import { SourceRoot } from '../storage/source-root.js';
import { destKeyFor } from '../hls/dest-key.js';
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
    ['https://metadata.google.internal./computeMetadata/v1/', /link-local or metadata/],
    ['../../../../etc/passwd', /outside the source prefix/],
    ['https://cdn.example.com/other/x.ts', /outside the source prefix/],
    ['%2e%2e/%2e%2e/%2e%2e/secret.ts', /outside the source prefix|climbs/],
    ['a%2f..%2f..%2f..%2fsecret.ts', /climbs/],
    ['https://user:pw@cdn.example.com/vod/x.ts', /credentials/],
  ])('crawler - refuses %s', (uri, reason) => {
    expect(() => root.resolve(uri, base)).toThrow(RefusedUriError);
    expect(() => root.resolve(uri, base)).toThrow(reason);
  });

  it('crawler - the link-local check, made once per host, still refuses a metadata host between allowed ones', () => {
    const r = new SourceRoot({ kind: 'http', root: 'https://cdn.example.com/vod/' }, ['https://169.254.169.254/']);
    for (let i = 0; i < 3; i++) {
      expect(r.resolve('a.ts', base).path).toBe('c1/hd/a.ts');
      expect(() => r.resolve('https://169.254.169.254/latest/x.ts', base)).toThrow(/link-local or metadata/);
    }
  });

  it('crawler - an allowed root with bad percent-encoding refuses the URIs under it, by name, and no other', () => {
    const r = new SourceRoot({ kind: 'http', root: 'https://cdn.example.com/vod/' }, ['https://other.example.com/a%zz/']);
    expect(r.resolve('b.ts', base).path).toBe('c1/hd/b.ts');
    expect(() => r.resolve('https://other.example.com/a%zz/x.ts', base)).toThrow(/invalid percent-encoding/);
  });

  it('crawler - s3 sources resolve inside their bucket and prefix only', () => {
    const s3root = new SourceRoot({ kind: 's3', bucket: 'src-bucket', prefix: 'lib/' });
    const b = new URL('s3://src-bucket/lib/c1/master.m3u8');
    expect(s3root.resolve('hd/index.m3u8', b).path).toBe('c1/hd/index.m3u8');
    expect(() => s3root.resolve('s3://other-bucket/lib/x.ts', b)).toThrow(/bucket other-bucket/);
    expect(() => s3root.resolve('../../x.ts', b)).toThrow(/outside the source prefix/);
  });
});

/** A master naming `child`.m3u8 1,000 times. */
const fanOut = (child: string) =>
  ['#EXTM3U', ...Array.from({ length: 1_000 }, (_, i) => [`#EXT-X-STREAM-INF:BANDWIDTH=${i + 1}`, `${child}.m3u8`]).flat(), ''].join('\n');

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
      // Three masters, each naming the next 1,000 times (18 KB each): a walk per mention is 10⁹ walks.
      ...Object.fromEntries(['a', 'b', 'c'].map((name, level) => [`/vod/fan/${name}.m3u8`, fanOut(['b', 'c', 'media'][level] as string)])),
      '/vod/fan/media.m3u8': ['#EXTM3U', '#EXT-X-TARGETDURATION:4', '#EXTINF:4,', 's0.ts', '#EXTINF:4,', 's1.ts', '#EXT-X-ENDLIST', ''].join('\n'),
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

  it('crawler - walks a playlist named many times once, and keeps its heartbeats going', async () => {
    // From a review: each mention walked again, all without yielding, stalled the event loop (and the crawl's
    // working() heartbeats, every 3.3 s with the default ack wait) for 11 s at 300 mentions; here it would never end.
    let last = Date.now();
    let stall = 0;
    const tick = setInterval(() => {
      stall = Math.max(stall, Date.now() - last);
      last = Date.now();
    }, 10);
    try {
      const result = await crawl('fan/a.m3u8');
      expect(result.files.map((f) => f.path)).toEqual(['fan/a.m3u8', 'fan/b.m3u8', 'fan/c.m3u8', 'fan/media.m3u8', 'fan/s0.ts', 'fan/s1.ts']);
      expect(result.playlists).toBe(4);
    } finally {
      clearInterval(tick);
    }
    expect(stall).toBeLessThan(3_000);
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

describe('crawler - playlist conformance, keys, query variants, limits and redaction', () => {
  let origin: Origin;
  const m = (...lines: string[]) => `${lines.join('\n')}\n`;
  const variant = (n: number) => m('#EXTM3U', '#EXT-X-TARGETDURATION:4', ...Array.from({ length: n }, (_, i) => `#EXTINF:4,\ns${i}.ts`), '#EXT-X-ENDLIST');

  beforeAll(async () => {
    origin = await startOrigin({
      '/vod/drm/master.m3u8': m(
        '#EXTM3U',
        '#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES,URI="skd://fairplay/session",KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"',
        '#EXT-X-SESSION-KEY:METHOD=SAMPLE-AES-CTR,URI="keys/session-pr.bin",KEYFORMAT="com.microsoft.playready",KEYFORMATVERSIONS="1"',
        '#EXT-X-STREAM-INF:BANDWIDTH=1000',
        'index.m3u8',
      ),
      '/vod/drm/index.m3u8': m(
        '#EXTM3U', '#EXT-X-TARGETDURATION:4',
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://fairplay/asset1",KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"',
        '#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="data:text/plain;base64,AAAAW3Bzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7Q==",KEYFORMAT="urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed",KEYFORMATVERSIONS="1"',
        '#EXT-X-KEY:METHOD=SAMPLE-AES-CTR,URI="keys/pr.bin",KEYFORMAT="com.microsoft.playready",KEYFORMATVERSIONS="1"',
        '#EXTINF:4,', 's0.ts',
        '#EXT-X-KEY:METHOD=AES-128,URI="keys/k1.key"',
        '#EXT-X-KEY:METHOD=AES-128,URI="keys/k1-alt.key",KEYFORMAT="com.example.alt"',
        '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="urn:example:key:7"',
        '#EXTINF:4,', 's1.ts',
        '#EXT-X-KEY:METHOD=NONE',
        '#EXTINF:4,', 's2.ts',
        '#EXT-X-ENDLIST',
      ),
      '/vod/q/index.m3u8': m(
        '#EXTM3U', '#EXT-X-TARGETDURATION:4',
        '#EXTINF:4,', 'chunk.ts?n=1', '#EXTINF:4,', 'chunk.ts?n=2', '#EXTINF:4,', 'chunk.ts?n=3', '#EXTINF:4,', 'chunk.ts?n=1',
        '#EXTINF:4,', 'odd.ts?a=%E0',
        '#EXT-X-ENDLIST',
      ),
      '/vod/sessiononly/master.m3u8': m('#EXTM3U', '#EXT-X-SESSION-DATA:DATA-ID="com.example.title",VALUE="Film"', '#EXT-X-SESSION-DATA:DATA-ID="com.example.meta",URI="meta.json"'),
      '/vod/three/master.m3u8': m('#EXTM3U', ...[0, 1, 2].flatMap((v) => [`#EXT-X-STREAM-INF:BANDWIDTH=${v + 1}000`, `v${v}/index.m3u8`])),
      '/vod/three/v0/index.m3u8': variant(100),
      '/vod/three/v1/index.m3u8': variant(100),
      '/vod/three/v2/index.m3u8': variant(100),
      '/vod/early/master.m3u8': m('#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', 'big.m3u8', '#EXT-X-STREAM-INF:BANDWIDTH=2', 'later.m3u8'),
      '/vod/early/big.m3u8': variant(50),
      '/vod/foreign/index.m3u8': m(
        '#EXTM3U', '#EXT-X-TARGETDURATION:4',
        '#EXTINF:4,', 'https://evil.example.com/a.ts?token=SECRET1',
        '#EXTINF:4,', 'https://evil.example.com/a.ts?token=SECRET2',
        '#EXTINF:4,', 'https://user:SECRETPW@evil.example.com/b.ts',
        '#EXTINF:4,', 'http://exa mple.com/c.ts?token=SECRET3',
        '#EXT-X-ENDLIST',
      ),
      '/vod/leak/index.m3u8': m('#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', 'away.m3u8'),
    });
    origin.redirects.set('/vod/leak/away.m3u8', 'http://exa mple.com/x.m3u8?token=SECRET4');
  });

  afterAll(async () => {
    await origin?.close();
  });

  const crawl = (entry: string, over: Partial<CrawlLimits> & Record<string, unknown> = {}) => {
    const root = new SourceRoot({ kind: 'http', root: `${origin.url}/vod/` });
    return crawlClass(root.fromRef(entry), { reader: new HttpSourceReader(root), root }, { ...limits, ...over });
  };
  const permanent = async (p: Promise<unknown>) => {
    const err = await p.then(() => undefined, (e: unknown) => e);
    expect(err, 'the crawl should have failed').toBeInstanceOf(Error);
    expect(isPermanent(err)).toBe(true);
    return (err as Error).message;
  };

  it('crawler - a first line that is not exactly #EXTM3U fails the playlist, naming the problem', () => {
    expect(() => parsePlaylist(m('#EXTM3U#EXT-X-STREAM-INF:BANDWIDTH=1', 'v.m3u8'), 'glued.m3u8')).toThrow(
      /glued.m3u8 is not an HLS playlist: its first line must be exactly #EXTM3U/,
    );
    expect(() => parsePlaylist(m('', '#EXTM3U', '#EXTINF:4,', 's.ts'), 'blank.m3u8')).toThrow(/blank.m3u8 is not an HLS playlist/);
    expect(() => parsePlaylist(m(' #EXTM3U', '#EXTINF:4,', 's.ts'), 'indented.m3u8')).toThrow(/indented.m3u8 is not an HLS playlist/);
    // A BOM, and trailing spaces, tabs or CR on that line only, are tolerated.
    const ok = parsePlaylist('\uFEFF#EXTM3U \t\r\n#EXT-X-STREAM-INF:BANDWIDTH=1\r\nv.m3u8\r\n', 'crlf.m3u8');
    expect(ok.references).toEqual([{ uri: 'v.m3u8', kind: 'playlist', role: 'variant' }]);
  });

  it('crawler - a duplicate EXT-X-DEFINE name fails the playlist', () => {
    const dup = (second: string) => m('#EXTM3U', '#EXT-X-DEFINE:NAME="d",VALUE="a"', second, '#EXT-X-STREAM-INF:BANDWIDTH=1', '{$d}/v.m3u8');
    expect(() => parsePlaylist(dup('#EXT-X-DEFINE:NAME="d",VALUE="b"'), 'dup.m3u8')).toThrow(/dup.m3u8 defines variable "d" more than once/);
    expect(() => parsePlaylist(dup('#EXT-X-DEFINE:QUERYPARAM="d"'), 'dupq.m3u8', { url: 'https://h/dupq.m3u8?d=x' })).toThrow(/more than once/);
  });

  it('crawler - a variable used before its EXT-X-DEFINE is undefined at that point', () => {
    const text = m('#EXTM3U', '#EXT-X-STREAM-INF:BANDWIDTH=1', '{$d}/v.m3u8', '#EXT-X-DEFINE:NAME="d",VALUE="hd"', '#EXT-X-STREAM-INF:BANDWIDTH=2', '{$d}/w.m3u8');
    expect(() => parsePlaylist(text, 'order.m3u8')).toThrow(/order.m3u8 uses undefined variable \{\$d\}/);
    // Defined first, it substitutes everywhere after, in URI lines and quoted attributes alike.
    const fine = parsePlaylist(m('#EXTM3U', '#EXT-X-DEFINE:NAME="d",VALUE="hd"', '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="{$d}/en.m3u8"', '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"', '{$d}/{$d}.m3u8'), 'fine.m3u8');
    expect(fine.references.map((r) => r.uri).sort()).toEqual(['hd/en.m3u8', 'hd/hd.m3u8']);
  });

  it('crawler - every EXT-X-KEY and EXT-X-SESSION-KEY is seen: fetchable ones copied, the others skipped', async () => {
    const r = await crawl('drm/master.m3u8');
    expect(r.files.map((f) => f.path).sort()).toEqual([
      'drm/index.m3u8', 'drm/keys/k1-alt.key', 'drm/keys/k1.key', 'drm/keys/pr.bin', 'drm/keys/session-pr.bin',
      'drm/master.m3u8', 'drm/s0.ts', 'drm/s1.ts', 'drm/s2.ts',
    ]);
    expect(r.files.find((f) => f.path === 'drm/keys/pr.bin')?.role).toBe('key');
    expect(r.files.find((f) => f.path === 'drm/keys/session-pr.bin')?.role).toBe('session-key');
    const skipped = r.skipped.map((s) => s.uri).sort();
    expect(skipped).toEqual(['data:text/plain;base64,…', 'skd://fairplay/asset1', 'skd://fairplay/session', 'urn:example:key:7']);
    expect(r.refused).toEqual([]);
  });

  it('crawler - with keepQuery, query-string variants are distinct files with distinct keys; without, one file', async () => {
    const kept = await crawl('q/index.m3u8', { keepQuery: true });
    expect(kept.files.map((f) => f.key)).toEqual(['q/index.m3u8', 'q/chunk.ts?n=1', 'q/chunk.ts?n=2', 'q/chunk.ts?n=3', 'q/odd.ts?a=%E0']);
    expect(kept.files.map((f) => f.ref)).toEqual(['q/index.m3u8', 'q/chunk.ts?n=1', 'q/chunk.ts?n=2', 'q/chunk.ts?n=3', 'q/odd.ts?a=%E0']);
    const plain = await crawl('q/index.m3u8');
    expect(plain.files.map((f) => f.key)).toEqual(['q/index.m3u8', 'q/chunk.ts', 'q/odd.ts']);
  });

  it('crawler - total playlist bytes per class are bounded, as a permanent error', async () => {
    const total = (await crawl('three/master.m3u8')).files.length;
    expect(total).toBe(304);
    const one = variant(100).length;
    const reason = await permanent(crawl('three/master.m3u8', { maxClassPlaylistBytes: 2 * one }));
    expect(reason).toMatch(/playlists of this class total more than \d+ bytes \(maxClassPlaylistBytes\)/);
  });

  it('crawler - the files-per-class limit applies as files are found, before the rest is read', async () => {
    const reason = await permanent(crawl('early/master.m3u8', { maxFiles: 20, concurrency: 1 }));
    expect(reason).toMatch(/more than FLANTS_MAX_FILES_PER_CLASS=20 files/);
    expect(origin.requests.filter((r) => r.includes('later.m3u8'))).toEqual([]);
  });

  it('crawler - three 4 MiB variants at a 128 MB heap end in the files-per-class limit, not out of memory', { timeout: 60_000 }, async () => {
    // The crawler runs as an actor process with --max-old-space-size=128 (README, Memory): so does this crawl.
    const segment = (v: number, i: number) => `#EXTINF:6.006,\nvariant_${v}/1080p/segment_${String(i).padStart(6, '0')}.ts\n`;
    for (const v of [0, 1, 2]) {
      const parts = ['#EXTM3U\n#EXT-X-TARGETDURATION:7\n'];
      let size = parts[0]?.length ?? 0;
      for (let i = 0; size < (4 << 20) - 100; i++) size += (parts[parts.length] = segment(v, i)).length;
      parts.push('#EXT-X-ENDLIST\n');
      origin.files.set(`/vod/huge/v${v}.m3u8`, Buffer.from(parts.join('')));
    }
    origin.files.set('/vod/huge/master.m3u8', Buffer.from(m('#EXTM3U', ...[0, 1, 2].flatMap((v) => [`#EXT-X-STREAM-INF:BANDWIDTH=${v + 1}000`, `v${v}.m3u8`]))));
    const dir = mkdtempSync(join(tmpdir(), 'flants-heap-'));
    await build({
      stdin: {
        contents: `
          import { crawlClass } from './hls/crawl-class.ts';
          import { HttpSourceReader } from './storage/source-reader.ts';
          import { SourceRoot } from './storage/source-root.ts';
          import { isPermanent } from './storage/errors.ts';
          const root = new SourceRoot({ kind: 'http', root: process.argv[2] + '/vod/' });
          const limits = { maxPlaylistBytes: 4 << 20, maxDepth: 4, maxFiles: Number(process.argv[3]), concurrency: 8 };
          crawlClass(root.fromRef('huge/master.m3u8'), { reader: new HttpSourceReader(root), root }, limits).then(
            (r) => console.log(JSON.stringify({ files: r.files.length })),
            (err) => console.log(JSON.stringify({ error: err.message, permanent: isPermanent(err) })),
          );`,
        resolveDir: process.cwd(),
        loader: 'ts',
      },
      outfile: join(dir, 'crawl.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'error',
    });
    const run = (maxFiles: number) =>
      promisify(execFile)(process.execPath, ['--max-old-space-size=128', join(dir, 'crawl.mjs'), origin.url, String(maxFiles)]).then(
        (r) => JSON.parse(r.stdout) as { files?: number; error?: string; permanent?: boolean },
        (e: { stderr?: string }) => ({ crashed: (e.stderr ?? '').slice(0, 300) }),
      );
    try {
      expect(await run(200_000)).toEqual({ error: expect.stringMatching(/more than FLANTS_MAX_FILES_PER_CLASS=200000 files/), permanent: true });
      // Under a higher files limit the same class fits: a parsed playlist is kept only as its files.
      expect(await run(1_000_000)).toEqual({ files: expect.toSatisfy((n: number) => n > 250_000) });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('crawler - a master playlist with only EXT-X-SESSION-DATA fails: it lists no variants', async () => {
    const reason = await permanent(crawl('sessiononly/master.m3u8'));
    expect(reason).toMatch(/sessiononly\/master.m3u8: master playlist lists no variants/);
  });

  it('crawler - refused URIs are counted and carry no query strings, credentials or tokens', async () => {
    const r = await crawl('foreign/index.m3u8');
    const text = JSON.stringify(r.refused);
    for (const secret of ['SECRET1', 'SECRET2', 'SECRETPW', 'SECRET3', 'token=']) expect(text.includes(secret), secret).toBe(false);
    expect(r.files.map((f) => f.path)).toEqual(['foreign/index.m3u8']);
    expect(r.refused.map((x) => x.uri).sort()).toEqual(['http://exa mple.com/c.ts?…', 'https://evil.example.com/a.ts?…', 'https://evil.example.com/b.ts']);
    // Entries are deduplicated by redacted URI; the count is of distinct references.
    expect(r.refusedCount).toBe(4);
  });

  it('crawler - a redirect Location is redacted in the error', async () => {
    const reason = await permanent(crawl('leak/index.m3u8'));
    expect(reason).toMatch(/redirect of leak\/away.m3u8 .*leaves the source/);
    expect(reason.includes('SECRET4')).toBe(false);
    expect(reason.includes('token=')).toBe(false);
  });

  it('crawler - IPv6-mapped, IPv4-compatible and NAT64 forms of link-local and metadata addresses are recognised', () => {
    for (const host of ['[::ffff:a9fe:a9fe]', '[::ffff:169.254.169.254]', '[64:ff9b::a9fe:a9fe]', '[64:ff9b::169.254.169.254]', '[::169.254.169.254]', '[::ffff:0:a9fe:a9fe]', '[64:ff9b:1::a9fe:a9fe]', '[2002:a9fe:a9fe::1]', '[::ffff:100.100.100.200]', '[fe80::1%25eth0]', '[fd00:ec2::254]']) {
      expect(isLinkLocalOrMetadata(host), host).toBe(true);
    }
    for (const host of ['[::ffff:10.0.0.1]', '[2001:db8::1]', '[64:ff9b::a00:1]', '[::1]', 'cdn.example.com', '10.0.0.1']) {
      expect(isLinkLocalOrMetadata(host), host).toBe(false);
    }
    const root = new SourceRoot({ kind: 'http', root: 'https://cdn.example.com/vod/' });
    for (const uri of ['http://[::ffff:169.254.169.254]/latest/meta-data/', 'https://[::ffff:a9fe:a9fe]/vod/x.ts', 'https://[64:ff9b::a9fe:a9fe]/vod/x.ts']) {
      expect(() => root.resolve(uri, new URL('https://cdn.example.com/vod/a.m3u8')), uri).toThrow(/link-local or metadata/);
    }
  });
});

describe('crawler - every network read has a deadline', () => {
  it('crawler - a playlist that never finishes arriving fails the crawl attempt, retryably, naming the file', async () => {
    await using origin = await startOrigin({ '/vod/slow/master.m3u8': '#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4,\na.ts\n#EXT-X-ENDLIST\n' });
    origin.delays.set('/vod/slow/master.m3u8', 5_000);
    const root = new SourceRoot({ kind: 'http', root: `${origin.url}/vod/` });
    const reader = new HttpSourceReader(root, {}, 300);
    const started = Date.now();
    const err = await crawlClass(root.fromRef('slow/master.m3u8'), { reader, root }, { maxPlaylistBytes: 1 << 20, maxDepth: 4, maxFiles: 100, concurrency: 2 }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err?.message).toMatch(/reading slow\/master\.m3u8 did not finish within 0\.3 s/);
    expect(isPermanent(err)).toBe(false);
    await expect(reader.exists(root.fromRef('slow/master.m3u8'))).rejects.toThrow(/did not finish within/);
  });
});
