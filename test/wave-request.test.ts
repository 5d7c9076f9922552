/**
 * The terminal progress bars leave the cursor alone (a Ctrl-C that ends the
 * process before stop() would leave it hidden), and the Lambda's payload gate
 * passes what flants sends and refuses tuning the configuration refuses.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressBars } from '../cli/progress-bars.js';
import { parseWaveRequest } from '../lambda/wave-request.js';
import { waveEnds } from '../lambda/invoke-wave.js';
import { testConfig } from './helpers/services.js';

function fakeTty() {
  const s = new PassThrough() as PassThrough & { isTTY: boolean; columns: number; rows: number; cursorTo: unknown; moveCursor: unknown; clearLine: unknown; clearScreenDown: unknown };
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  Object.assign(s, { isTTY: true, columns: 100, rows: 40 });
  return { s, text: () => text };
}

describe('progress bars on a terminal', () => {
  it('progress - the cursor is never hidden, so no exit path can leave it hidden', async () => {
    const { s, text } = fakeTty();
    const bars = progressBars(s as unknown as NodeJS.WriteStream);
    bars.show([{ classId: 'c1', status: 'transferring', total: 10, done: 3, failed: 0 }]);
    await new Promise((r) => setTimeout(r, 300));
    expect(text()).not.toContain('\x1b[?25l');
    bars.stop();
    expect(text()).not.toContain('\x1b[?25l');
  });
});

describe('lambda - wave request gate', () => {
  const config = testConfig({ FLANTS_SOURCE: 's3://src-bucket/vod/', FLANTS_DEST: 's3://dst-bucket/m/' });
  const valid = { ...waveEnds(config), jobs: [{ src: 'a.ts', key: 'a.ts' }], options: config.transfer };
  const roundTrip = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;

  it('lambda - what the dispatcher, audit and split files send passes', () => {
    expect(() => parseWaveRequest(roundTrip(valid))).not.toThrow();
    expect(() => parseWaveRequest(roundTrip({ ...valid, op: 'hash' }))).not.toThrow();
    const http = testConfig({ FLANTS_SOURCE: 'https://cdn.example.com/vod/', FLANTS_DEST: 's3://dst-bucket/m/', FLANTS_SOURCE_ALLOW: 's3://keys-bucket/k/' });
    expect(() => parseWaveRequest(roundTrip({ ...waveEnds(http), jobs: [], options: http.transfer }))).not.toThrow();
    const part = { uploadId: 'u', n: 1, count: 2, start: 0, end: 10, size: 20 };
    const assemble = { uploadId: 'u', size: 20, parts: [{ n: 1, etag: '"e"' }] };
    expect(() => parseWaveRequest(roundTrip({ ...valid, jobs: [{ src: 'a', key: 'a', optional: true, part }, { src: 'a', key: 'a', assemble }] }))).not.toThrow();
  });

  it('lambda - tuning the configuration refuses is refused (sub-5MiB parts, untimeable stall timeouts, .. in the prefix)', () => {
    const accepted: string[] = [];
    const tries: Record<string, unknown> = {
      'partSize 0.5 (config: >= 5MiB; copyMultipart then loops on 0-byte parts)': { ...valid.options, partSize: 0.5, multipartThreshold: 1 },
      'stallTimeoutMs 3e9 (> setTimeout max: fires after 1 ms)': { ...valid.options, stallTimeoutMs: 3e9 },
      'splitPartSize 1': { ...valid.options, splitPartSize: 1, splitThreshold: 1 },
    };
    for (const [what, options] of Object.entries(tries)) {
      try {
        parseWaveRequest(roundTrip({ ...valid, options }));
        accepted.push(what);
      } catch {
        /* refused */
      }
    }
    for (const [what, dest] of Object.entries({ 'dest prefix "../other/"': { ...valid.dest, location: { kind: 's3', bucket: 'dst-bucket', prefix: '../other/' } } })) {
      try {
        parseWaveRequest(roundTrip({ ...valid, dest }));
        accepted.push(what);
      } catch {
        /* refused */
      }
    }
    expect(accepted).toEqual([]);
  });
});
