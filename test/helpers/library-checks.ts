/**
 * The checks every whole-library run ends with: exactly one outcome per
 * class, complete with exact counts, and every file in the destination
 * byte-identical to the source, with nothing else copied.
 */
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import type { ClassTransferred } from '../../streams/messages.js';
import { getObject, listKeys } from './services.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** One complete outcome per class with the library's exact counts. */
export function expectOneCompleteOutcomeEach(
  outcomes: readonly ClassTransferred[],
  expected: ReadonlyMap<string, { files: number; bytes: number }>,
): void {
  expect(outcomes.map((o) => o.classId).sort()).toEqual([...expected.keys()].sort());
  for (const o of outcomes) {
    expect(o.status, o.classId).toBe('complete');
    expect(o.failed, o.classId).toEqual([]);
    // A file redone after a kill may be found already copied: copied plus verified bytes are the class.
    expect({ files: o.files, bytes: o.bytes + o.verifiedBytes }, o.classId).toEqual(expected.get(o.classId));
  }
}

/** Every source file (path under /vod/ → body) is in `bucket`, identical, and nothing else but flants' own reports. */
export async function expectLibraryCopied(s3: S3Client, bucket: string, library: ReadonlyMap<string, Buffer>): Promise<void> {
  const keys = (await listKeys(s3, bucket)).filter((k) => !k.startsWith('_flants/'));
  expect(keys.sort()).toEqual([...library.keys()].map((p) => p.slice('/vod/'.length)).sort());
  const mismatched: string[] = [];
  const queue = [...library.entries()];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let e = queue.pop(); e; e = queue.pop()) {
        const [path, body] = e;
        const got = await getObject(s3, bucket, path.slice('/vod/'.length));
        if (got.length !== body.length || md5(got) !== md5(body)) mismatched.push(path);
      }
    }),
  );
  expect(mismatched).toEqual([]);
}
