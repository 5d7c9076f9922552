/** The sizes of what a crawl publishes about refused and skipped URIs (actors/detail-pieces.ts). */
import { describe, expect, it } from 'vitest';
import { detailPieces, fitSamples } from '../actors/detail-pieces.js';
import { MAX_PAYLOAD_BYTES } from '../streams/messages.js';

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
const wide = (n: number) => Array.from({ length: n }, (_, i) => ({ uri: `http://x.example/${i}/${'\u0001'.repeat(200)}`, reason: `segment in ${'講'.repeat(200)}: off the origin` }));

describe('detail pieces', () => {
  it('detail pieces - short items go 200 to a piece; wide ones fewer, each piece within its bytes, in order', () => {
    const short = Array.from({ length: 450 }, (_, i) => ({ uri: `u${i}`, reason: 'r' }));
    expect(detailPieces(short, 200).map((p) => p.length)).toEqual([200, 200, 50]);
    const list = wide(200);
    const pieces = detailPieces(list, 200, 100_000);
    expect(pieces.length).toBeGreaterThan(2);
    for (const p of pieces) expect(bytes(p)).toBeLessThanOrEqual(100_000);
    expect(pieces.flat()).toEqual(list);
    expect(detailPieces(list, 200, 100_000)).toEqual(pieces);
    expect(detailPieces([], 200)).toEqual([]);
  });

  it('detail pieces - samples are halved until the message fits, and kept whole when it does', () => {
    const m = { classId: 'c', refused: wide(100), skipped: wide(100) };
    const fitted = fitSamples(m, MAX_PAYLOAD_BYTES / 2);
    expect(bytes(fitted)).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES / 2);
    expect(fitted.refused.length).toBeGreaterThan(0);
    expect(fitted.refused).toEqual(m.refused.slice(0, fitted.refused.length));
    const small = { classId: 'c', refused: wide(2), skipped: [] };
    expect(fitSamples(small)).toBe(small);
  });
});
