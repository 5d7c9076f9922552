/** The source as configured: its root (the fetch rules), its S3 client when it is a bucket, and its reader. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { FlantsConfig } from '../config/load-config.js';
import { makeS3Client } from './s3-client.js';
import { makeSourceReader, type SourceReader } from './source-reader.js';
import { SourceRoot } from './source-root.js';

export interface SourceAccess {
  readonly root: SourceRoot;
  readonly reader: SourceReader;
  /** Only for s3:// sources. */
  readonly s3?: S3Client;
}

/** Opens the configured source. */
export function openSource(config: FlantsConfig): SourceAccess {
  const root = new SourceRoot(config.source, config.sourceAllow);
  const s3 = config.source.kind === 's3' ? makeS3Client(config.sourceS3) : undefined;
  return { root, s3, reader: makeSourceReader(root, s3) };
}
