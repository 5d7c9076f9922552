/**
 * Discovers classes without a catalogue: lists an S3 source, or reads an index
 * file on an HTTP origin, and yields each entry playlist that matches the
 * discovery pattern. Both stream: memory stays flat however large the library.
 */
import { createInterface } from 'node:readline';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { S3Location } from '../config/locations.js';
import type { SourceReader } from '../storage/source-reader.js';
import type { SourceRoot } from '../storage/source-root.js';
import { patternMatcher, type Candidate } from './candidate.js';

/** Lists `location` page by page and yields the matching entry playlists. */
export async function* discoverInBucket(s3: S3Client, location: S3Location, pattern: string): AsyncGenerator<Candidate> {
  const match = patternMatcher(pattern);
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.prefix || undefined, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const path = (o.Key ?? '').slice(location.prefix.length);
      const classId = match(path);
      if (classId) yield { classId, manifest: path, recordedAt: o.LastModified, origin: 'bucket' };
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/**
 * Reads an index file on an HTTP origin, one entry playlist path per line
 * (relative to the source root; blank lines and `#` comments ignored), and
 * yields the lines that match the pattern.
 */
export async function* discoverInIndex(reader: SourceReader, root: SourceRoot, indexPath: string, pattern: string): AsyncGenerator<Candidate> {
  const match = patternMatcher(pattern);
  const index = await reader.open(root.fromRef(indexPath));
  const lines = createInterface({ input: index.body, crlfDelay: Infinity });
  for await (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const classId = match(line);
    if (classId) yield { classId, manifest: line, origin: 'index' };
  }
}
