/** ETag handling shared by every copy and check: quotes off, and when an ETag is the content's MD5. */

/** The ETag without its quotes (and weak marker); empty when absent. */
export function unquoteEtag(etag: string | null | undefined): string {
  return (etag ?? '').replace(/^(W\/)?"|"$/g, '');
}

/** True when an S3 ETag is the content MD5: plain 32 hex digits, and no KMS or SSE-C encryption. */
export function etagIsMd5(etag: string, sse: string | undefined, sseCustomerAlgorithm: string | undefined): boolean {
  const trusted = !sseCustomerAlgorithm && (sse === undefined || sse === 'AES256');
  return trusted && /^[0-9a-f]{32}$/.test(etag);
}
