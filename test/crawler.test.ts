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
    ['http://169.254.169.254/latest/meta-data/', /scheme http:/],
    ['https://169.254.169.254/vod/x.ts', /host 169.254.169.254/],
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
