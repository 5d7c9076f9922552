/** ETag handling shared by every copy and check: quotes off, and when an ETag is the content's MD5. */
import { createHash } from 'node:crypto';

/** The ETag without its quotes (and weak marker); empty when absent. */
export function unquoteEtag(etag: string | null | undefined): string {
  return (etag ?? '').replace(/^(W\/)?"|"$/g, '');
}

/** True when an S3 ETag is the content MD5: plain 32 hex digits, and no KMS or SSE-C encryption. */
export function etagIsMd5(etag: string, sse: string | undefined, sseCustomerAlgorithm: string | undefined): boolean {
  const trusted = !sseCustomerAlgorithm && (sse === undefined || sse === 'AES256');
  return trusted && /^[0-9a-f]{32}$/.test(etag);
}

/**
 * The ETag S3 gives an object assembled from parts with these MD5s (hex):
 * the MD5 of the parts' binary MD5s, then `-` and the part count. Undefined
 * when a part's ETag is not an MD5 (KMS, SSE-C), so nothing can be predicted.
 */
export function multipartEtag(partMd5s: readonly string[]): string | undefined {
  if (partMd5s.length === 0 || !partMd5s.every((m) => /^[0-9a-f]{32}$/.test(m))) return undefined;
  const hash = createHash('md5');
  for (const m of partMd5s) hash.update(Buffer.from(m, 'hex'));
  return `${hash.digest('hex')}-${partMd5s.length}`;
}

/** True when `etag` has the multipart form `<32 hex>-<parts>`. */
export const isMultipartEtag = (etag: string): boolean => /^[0-9a-f]{32}-\d+$/.test(etag);

/** Object metadata that records which source version a copy came from. */
export const SOURCE_VERSION_META = 'flants-source-version';

/** The source version as a copy records it: S3 caps metadata, so it is cut at 256 characters. */
export function recordedSourceVersion(version: string): string {
  return version.slice(0, 256);
}

/** The metadata to store with a copy of source version `version`. */
export function sourceVersionMetadata(version: string | undefined): Record<string, string> | undefined {
  return version ? { [SOURCE_VERSION_META]: recordedSourceVersion(version) } : undefined;
}
