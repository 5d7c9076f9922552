/**
 * Decides whether a URI may be fetched: only from the configured source root
 * (same scheme, host, port or bucket, under the prefix). Everything a playlist
 * references passes through here before anything is requested.
 */
import type { SourceLocation } from '../config/locations.js';
import { RefusedUriError } from './errors.js';

/** A checked reference to one source file. */
export interface SourceRef {
  /** The absolute URL (s3://bucket/key or https://...), query kept, for fetching and resolving. */
  readonly url: URL;
  /** Path relative to the source root, percent-decoded, without query: the destination key suffix. */
  readonly path: string;
  /** Reference relative to the source root, percent-encoded, query kept: what a job carries. */
  readonly ref: string;
}

/** Schemes that a playlist may name but that are data, not fetchable files (reported, never fetched). */
export const UNFETCHABLE_SCHEMES = new Set(['skd:', 'data:']);

/** The configured source root and the rules that keep every fetch inside it. */
export class SourceRoot {
  readonly root: URL;

  constructor(readonly location: SourceLocation) {
    this.root = location.kind === 's3'
      ? new URL(`s3://${location.bucket}/${encodePath(location.prefix)}`)
      : new URL(location.root);
  }

  /** Resolves `uri` against `base` (the playlist that holds it) and checks it. Throws RefusedUriError. */
  resolve(uri: string, base: URL): SourceRef {
    let url: URL;
    try {
      url = new URL(uri, base);
    } catch {
      throw new RefusedUriError(`malformed URI ${JSON.stringify(truncate(uri))}`);
    }
    return this.check(url);
  }

  /** Resolves a root-relative reference, as carried by jobs. */
  fromRef(ref: string): SourceRef {
    return this.resolve(ref, this.root);
  }

  /** Checks that `url` lies under the source root. Throws RefusedUriError naming why not. */
  check(url: URL): SourceRef {
    if (url.protocol !== this.root.protocol) {
      throw new RefusedUriError(`scheme ${url.protocol} is not the source's ${this.root.protocol}`);
    }
    if (url.username || url.password) throw new RefusedUriError('URI carries credentials');
    if (url.host !== this.root.host) {
      const what = this.location.kind === 's3' ? 'bucket' : 'host';
      throw new RefusedUriError(`${what} ${url.host} is not the source ${what} ${this.root.host}`);
    }
    // WHATWG URL already removed dot segments; a decoded ".." or "/" hidden in
    // percent-encoding would still escape once an S3 key or file path is built.
    let decoded: string;
    try {
      decoded = decodeURIComponent(url.pathname);
    } catch {
      throw new RefusedUriError('URI has invalid percent-encoding');
    }
    const segments = decoded.split('/');
    if (segments.includes('..') || segments.includes('.') || decoded.includes('\\') || /[\u0000-\u001f]/.test(decoded)) {
      throw new RefusedUriError('URI path climbs out of the source prefix');
    }
    if (!url.pathname.startsWith(this.root.pathname)) {
      throw new RefusedUriError(`path ${truncate(url.pathname)} is outside the source prefix ${this.root.pathname}`);
    }
    const encodedRel = url.pathname.slice(this.root.pathname.length);
    const path = decoded.slice(decodeURIComponent(this.root.pathname).length);
    if (path === '' || path.endsWith('/')) throw new RefusedUriError('URI names a folder, not a file');
    return { url, path, ref: encodedRel + url.search };
  }
}

/** Percent-encodes each path segment, keeping "/" separators. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Keeps long hostile URIs out of logs and reports at a readable size. */
export function truncate(s: string, n = 200): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/** Removes the query string and fragment, which often hold signed-URL tokens, for logs and reports. */
export function redactUri(uri: string): string {
  const q = uri.search(/[?#]/);
  return truncate(q < 0 ? uri : `${uri.slice(0, q)}?…`);
}
