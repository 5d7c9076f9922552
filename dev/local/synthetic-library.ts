/**
 * Generates a synthetic HLS library into an S3 bucket: classes with a master
 * playlist, several renditions and many segments of varied sizes. Used by the
 * demo, the end-to-end tests and the benchmarks.
 */
import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { prng } from './prng.js';

/** Shape of the library. */
export interface LibrarySpec {
  readonly classes: number;
  readonly renditions: number;
  readonly segments: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  /** Class index → one extra-large segment of this size (for multipart). */
  readonly largeFile?: { readonly classIndex: number; readonly bytes: number };
  /** Adds a file under each class prefix that no playlist references. */
  readonly strayFiles?: boolean;
  readonly classIdPrefix?: string;
  readonly seed?: number;
  /** Skews sizes toward the minimum: 1 is log-uniform, larger makes big files rarer. */
  readonly skew?: number;
}

/** One generated file. */
export interface LibraryFile {
  readonly key: string;
  readonly bytes: number;
  readonly referenced: boolean;
}

/** What was generated: classes and every file, referenced or not. */
export interface Library {
  readonly classIds: string[];
  readonly files: LibraryFile[];
  readonly totalBytes: number;
}

/** Writes the library under `prefix` in `bucket`, `concurrency` uploads at a time. */
export async function writeSyntheticLibrary(
  s3: S3Client,
  bucket: string,
  prefix: string,
  spec: LibrarySpec,
  concurrency = 16,
): Promise<Library> {
  const rnd = prng(spec.seed ?? 42);
  // Log-uniform sizes: many small segments, a few near the maximum, as in real ladders.
  const size = () => Math.round(Math.exp(Math.log(spec.minBytes) + rnd() ** (spec.skew ?? 1) * (Math.log(spec.maxBytes) - Math.log(spec.minBytes))));
  const files: Array<LibraryFile & { body: () => Buffer }> = [];
  const classIds: string[] = [];
  for (let c = 0; c < spec.classes; c++) {
    const classId = `${spec.classIdPrefix ?? 'class'}-${String(c).padStart(4, '0')}`;
    classIds.push(classId);
    const master = ['#EXTM3U', '#EXT-X-VERSION:3'];
    for (let r = 0; r < spec.renditions; r++) {
      const bw = 400_000 * (r + 1);
      master.push(`#EXT-X-STREAM-INF:BANDWIDTH=${bw},RESOLUTION=${320 * (r + 1)}x${180 * (r + 1)}`, `r${r}/index.m3u8`);
      const media = ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:4', '#EXT-X-PLAYLIST-TYPE:VOD'];
      for (let s = 0; s < spec.segments; s++) {
        const large = spec.largeFile && spec.largeFile.classIndex === c && r === 0 && s === 0;
        const bytes = large ? (spec.largeFile?.bytes ?? 0) : size();
        media.push('#EXTINF:4.000,', `seg${String(s).padStart(5, '0')}.ts`);
        files.push({ key: `${prefix}${classId}/r${r}/seg${String(s).padStart(5, '0')}.ts`, bytes, referenced: true, body: () => randomBytes(bytes) });
      }
      media.push('#EXT-X-ENDLIST', '');
      const text = Buffer.from(media.join('\n'));
      files.push({ key: `${prefix}${classId}/r${r}/index.m3u8`, bytes: text.length, referenced: true, body: () => text });
    }
    const text = Buffer.from(`${master.join('\n')}\n`);
    files.push({ key: `${prefix}${classId}/master.m3u8`, bytes: text.length, referenced: true, body: () => text });
    if (spec.strayFiles) {
      const stray = Buffer.from('not referenced by any playlist\n');
      files.push({ key: `${prefix}${classId}/r0/stray-notes.txt`, bytes: stray.length, referenced: false, body: () => stray });
    }
  }
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < files.length; i = next++) {
      const f = files[i] as (typeof files)[number];
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: f.key, Body: f.body() }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return {
    classIds,
    files: files.map(({ key, bytes, referenced }) => ({ key, bytes, referenced })),
    totalBytes: files.reduce((n, f) => n + f.bytes, 0),
  };
}
