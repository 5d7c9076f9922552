import { isLinkLocalOrMetadata } from '../storage/link-local.js';

/**
 * Parses the two location forms flants accepts: `s3://bucket/prefix` and
 * `https://origin.example.com/prefix` (plain HTTP CDN origin, source only).
 */

/** An S3 bucket plus a key prefix that always ends in "/" (or is empty). */
export interface S3Location {
  readonly kind: 's3';
  readonly bucket: string;
  readonly prefix: string;
}

/** An HTTP(S) origin plus a path prefix that always ends in "/". */
export interface HttpLocation {
  readonly kind: 'http';
  /** The origin root as a URL string, e.g. `https://cdn.example.com/vod/`. */
  readonly root: string;
}

export type SourceLocation = S3Location | HttpLocation;

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function withSlash(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/** Parses `s3://bucket/prefix`; throws a message naming `variable` on bad input. */
export function parseS3Location(value: string, variable: string): S3Location {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(value.trim());
  if (!m) throw new Error(`${variable} must look like s3://bucket/prefix, got ${JSON.stringify(value)}`);
  const bucket = m[1] ?? '';
  if (!BUCKET_NAME.test(bucket)) throw new Error(`${variable} names an invalid bucket ${JSON.stringify(bucket)}`);
  const prefix = withSlash(m[2] ?? '');
  if (prefix.split('/').some((part) => part === '..' || part === '.')) {
    throw new Error(`${variable} prefix may not contain "." or ".." segments`);
  }
  return { kind: 's3', bucket, prefix };
}

/** Parses a source location, either S3 or an HTTP(S) origin. */
export function parseSourceLocation(value: string, variable: string): SourceLocation {
  if (value.startsWith('s3://')) return parseS3Location(value, variable);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${variable} must be s3://bucket/prefix or https://origin/prefix, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${variable} must use s3://, https:// or http://, got ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new Error(`${variable} must not embed credentials in the URL`);
  }
  if (url.search || url.hash) throw new Error(`${variable} must not carry a query string or fragment`);
  if (isLinkLocalOrMetadata(url.hostname)) throw new Error(`${variable} may not be a link-local or metadata address`);
  url.pathname = withSlash(url.pathname);
  return { kind: 'http', root: url.href };
}
