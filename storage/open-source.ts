/** The source as configured: its root (the fetch rules), its S3 client when it is a bucket, and its reader. */
import type { S3Client } from '@aws-sdk/client-s3';
import type { FlantsConfig } from '../config/load-config.js';
import type { SourceReader } from './source-reader.js';
import { SourceRoot } from './source-root.js';

export interface SourceAccess {
  readonly root: SourceRoot;
  readonly reader: SourceReader;
  /** Only for s3:// sources. */
  readonly s3?: S3Client;
}

/**
 * Opens the configured source. The S3 SDK loads only when the source, or a root
 * in FLANTS_SOURCE_ALLOW, is a bucket; each root is read with its own scheme.
 */
export async function openSource(config: FlantsConfig): Promise<SourceAccess> {
  const root = new SourceRoot(config.source, config.sourceAllow);
  const { makeSourceReader } = await import('./source-reader.js');
  const needsS3 = config.source.kind === 's3' || config.sourceAllow.some((a) => a.startsWith('s3://'));
  if (!needsS3) return { root, reader: makeSourceReader(root, undefined) };
  const [{ makeS3Client }, { objectIo }] = await Promise.all([import('./s3-client.js'), import('./object-http.js')]);
  const s3 = makeS3Client(config.sourceS3);
  const reader = makeSourceReader(root, objectIo(s3));
  return config.source.kind === 's3' ? { root, s3, reader } : { root, reader };
}
