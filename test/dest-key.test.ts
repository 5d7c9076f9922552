/**
 * Destination keys: the source path, plus the decoded query only when asked
 * to keep it. Pure, and never throws: whatever a playlist holds, the key is
 * one the transfer handler accepts.
 */
import { describe, expect, it } from 'vitest';
import { destKeyFor } from '../hls/dest-key.js';
import { checkDestKey, checkKeyLength } from '../lambda/transfer-handler.js';

describe('dest-key - destination keys from references', () => {
  it('dest-key - drops the query unless it is kept, and decodes a kept one', () => {
    expect(destKeyFor('c1/seg.ts?token=abc', 'c1/seg.ts', false)).toBe('c1/seg.ts');
    expect(destKeyFor('c1/seg.ts?token=abc', 'c1/seg.ts', true)).toBe('c1/seg.ts?token=abc');
    expect(destKeyFor('c1/seg.ts', 'c1/seg.ts', true)).toBe('c1/seg.ts');
    expect(destKeyFor('c1/seg.ts?t=%C3%A9t%C3%A9%20x', 'c1/seg.ts', true)).toBe('c1/seg.ts?t=été x');
    // A fragment is not part of the query.
    expect(destKeyFor('https://keys.example.com/k.bin?v=2#frag', 'keys.example.com/k.bin', true)).toBe('keys.example.com/k.bin?v=2');
  });

  it('dest-key - keeps malformed percent-encoding literally instead of throwing', () => {
    expect(destKeyFor('chunk.ts?a=%E0', 'chunk.ts', true)).toBe('chunk.ts?a=%E0');
    expect(destKeyFor('chunk.ts?a=%C3%A9%E0%41%', 'chunk.ts', true)).toBe('chunk.ts?a=é%E0A%');
    expect(destKeyFor('chunk.ts?a=%ED%A0%80', 'chunk.ts', true)).toBe('chunk.ts?a=%ED%A0%80'); // a lone surrogate
    expect(destKeyFor('chunk.ts?a=%zz', 'chunk.ts', true)).toBe('chunk.ts?a=%zz');
  });

  it('dest-key - distinct queries keep distinct keys: "%", reserved characters and malformed escapes stay as written', () => {
    const keys = ['?a=%E0', '?a=%25E0', '?a=1%262', '?a=1&2', '?a=%3D', '?a==', '?n=1', '?n=2'].map((q) => destKeyFor(`c.ts${q}`, 'c.ts', true));
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.slice(0, 4)).toEqual(['c.ts?a=%E0', 'c.ts?a=%25E0', 'c.ts?a=1%262', 'c.ts?a=1&2']);
  });

  it('dest-key - a query cannot add folders, climb, or smuggle control characters or backslashes', () => {
    const key = destKeyFor('x.ts?p=%2F..%2F..%2Fetc/passwd', 'x.ts', true);
    expect(key).toBe('x.ts?p=%2F..%2F..%2Fetc%2Fpasswd');
    expect(() => checkDestKey(key)).not.toThrow();
    expect(destKeyFor('x.ts?a=%0A%0D%00b%5Cc', 'x.ts', true)).toBe('x.ts?a=%0A%0D%00b%5Cc');
  });

  it('dest-key - neutralises unsafe paths the way the handler would refuse them', () => {
    for (const path of ['a/../b.ts', '../b.ts', 'a/./b.ts', '/abs.ts', 'a\\..\\b.ts', 'a/\u0001.ts', '..']) {
      const key = destKeyFor(path, path, false);
      expect(() => checkDestKey(key), `${path} -> ${key}`).not.toThrow();
    }
    expect(destKeyFor('a/../b.ts', 'a/../b.ts', false)).toBe('a/%2E%2E/b.ts');
  });

  it('dest-key - never throws, and always yields a key the handler accepts', () => {
    const alphabet = ['a', '/', '.', '..', '%', '%E0', '%2F', '%2E', '%5C', '\\', '?', '#', '%00', '\u0000', '\n', 'é', '%C3%A9', '%zz', '='];
    let seed = 7;
    const pick = () => alphabet[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % alphabet.length] as string;
    for (let i = 0; i < 5_000; i++) {
      const path = `p${Array.from({ length: 1 + (i % 9) }, pick).join('')}`;
      const query = Array.from({ length: i % 11 }, pick).join('');
      for (const keep of [true, false]) {
        const key = destKeyFor(`${path}?${query}`, path, keep);
        expect(() => checkDestKey(key), JSON.stringify({ path, query, key })).not.toThrow();
      }
    }
  });

  it('dest-key - a key over S3\'s 1,024 bytes of UTF-8 fails its file, naming its length; one at the limit passes', () => {
    expect(() => checkKeyLength('k'.repeat(1024))).not.toThrow();
    expect(() => checkKeyLength('講'.repeat(341))).not.toThrow();
    expect(() => checkKeyLength('講'.repeat(342))).toThrow(/^destination key is 1026 bytes, over S3's 1024-byte limit/);
    expect(() => checkKeyLength('k'.repeat(1025))).toThrow(/1025 bytes/);
  });
});
