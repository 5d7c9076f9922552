/**
 * Decides whether a URI may be fetched: only from the configured source root
 * (same scheme, host, port or bucket, under the prefix) or an explicitly
 * allow-listed root. Everything a playlist references passes through here
 * before anything is requested.
 */
import type { SourceLocation } from '../config/locations.js';
import { RefusedUriError } from './errors.js';
import { isLinkLocalOrMetadata } from './link-local.js';

/** A checked reference to one source file. */
export interface SourceRef {
  /** The absolute URL (s3://bucket/key or https://...), query kept, for fetching and resolving. */
  readonly url: URL;
  /**
   * Destination key suffix: the path under the source root, percent-decoded,
   * without query. Files from an allow-listed root land under `<host>/<path>`.
   */
  readonly path: string;
  /** What a job carries: root-relative and percent-encoded with query, or absolute for allow-listed roots. */
  readonly ref: string;
}

/** Schemes that a playlist may name but that are data, not fetchable files (reported, never fetched). */
export const UNFETCHABLE_SCHEMES = new Set(['skd:', 'data:']);

/** The longest source URI followed (resolved, query included). */
export const MAX_URI_CHARS = 16_384;

/** The configured source root plus allow-listed roots, and the rules that keep every fetch inside them. */
export class SourceRoot {
  readonly root: URL;
  private readonly rootDecoded: string;
  private readonly allowed: Array<{ url: URL; decoded: string }>;
  // A class's thousands of URIs name one host: its link-local check is made once (2 % of a crawler's CPU otherwise).
  private lastHost = '';
  private lastHostRefused = false;

  /** `allow` lists extra roots (same form as FLANTS_SOURCE) that playlists may reference. */
  constructor(
    readonly location: SourceLocation,
    allow: readonly string[] = [],
  ) {
    this.root = location.kind === 's3'
      ? new URL(`s3://${location.bucket}/${encodePath(location.prefix)}`)
      : new URL(location.root);
    this.rootDecoded = decodedOrRaw(this.root.pathname);
    this.allowed = allow.map((a) => {
      const u = new URL(a);
      if (!u.pathname.endsWith('/')) u.pathname += '/';
      return { url: u, decoded: decodedOrRaw(u.pathname) };
    });
  }

  /** Resolves `uri` against `base` (the playlist that holds it) and checks it. Throws RefusedUriError. */
  resolve(uri: string, base: URL): SourceRef {
    let url: URL;
    try {
      url = new URL(uri, base);
    } catch {
      throw new RefusedUriError(`malformed URI ${JSON.stringify(redactUri(uri))}`);
    }
    return this.check(url);
  }

  /**
   * Resolves a reference as carried by jobs, or a manifest: a path relative
   * to the root, or an absolute URL (an allowed root's). "lecture:01/s1.ts"
   * is a path, not a URI with scheme "lecture:" (a class folder named so was
   * refused in the Lambda, and as a manifest by the scanner).
   */
  fromRef(ref: string): SourceRef {
    const path = /^[^/?#]*:/.test(ref) && !/^[a-z][a-z0-9+.-]*:\/\//i.test(ref);
    return this.resolve(path ? `./${ref}` : ref, this.root);
  }

  /** Checks that `url` lies under the source root or an allowed root. Throws RefusedUriError naming why not. */
  check(url: URL): SourceRef {
    // Each file's URI rides in a job message; one past this could make that job too big to parse (its class then
    // never finished, a review found). CDNs refuse far shorter URLs (CloudFront: 8,192 bytes).
    if (url.href.length > MAX_URI_CHARS) throw new RefusedUriError(`URI is ${url.href.length} characters long, over the ${MAX_URI_CHARS}-character limit`);
    if (url.username || url.password) throw new RefusedUriError('URI carries credentials');
    if (url.protocol !== 's3:' && this.refusedHost(url.hostname)) {
      throw new RefusedUriError(`${url.hostname} is a link-local or metadata address`);
    }
    const decoded = safeDecodedPath(url);
    for (const { url: extra, decoded: extraDecoded } of this.allowed) {
      if (url.protocol === extra.protocol && url.host === extra.host && url.pathname.startsWith(extra.pathname)) {
        const path = decoded.slice(extraDecoded.length);
        return { url, path: `${url.host}/${fileName(path)}`, ref: url.href };
      }
    }
    if (url.protocol !== this.root.protocol) {
      throw new RefusedUriError(`scheme ${url.protocol} is not the source's ${this.root.protocol}`);
    }
    if (url.host !== this.root.host) {
      const what = this.location.kind === 's3' ? 'bucket' : 'host';
      throw new RefusedUriError(`${what} ${url.host} is not the source ${what} ${this.root.host}`);
    }
    if (!url.pathname.startsWith(this.root.pathname)) {
      throw new RefusedUriError(`path ${truncate(url.pathname)} is outside the source prefix ${this.root.pathname}`);
    }
    const path = fileName(decoded.slice(this.rootDecoded.length));
    return { url, path, ref: url.pathname.slice(this.root.pathname.length) + url.search };
  }

  private refusedHost(hostname: string): boolean {
    if (hostname !== this.lastHost) {
      this.lastHostRefused = isLinkLocalOrMetadata(hostname);
      this.lastHost = hostname;
    }
    return this.lastHostRefused;
  }
}

/**
 * A root's path, decoded once. A root with bad percent-encoding is kept as it
 * is: no URI under it passes safeDecodedPath, so each is refused by name, as
 * before, instead of the start failing.
 */
function decodedOrRaw(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

// WHATWG URL already removed dot segments; a decoded ".." or "/" hidden in
// percent-encoding would still escape once an S3 key or file path is built.
function safeDecodedPath(url: URL): string {
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
  return decoded;
}

function fileName(path: string): string {
  if (path === '' || path.endsWith('/')) throw new RefusedUriError('URI names a folder, not a file');
  return path;
}

/** Percent-encodes each path segment, keeping "/" separators. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** Keeps long hostile URIs out of logs and reports at a readable size. */
export function truncate(s: string, n = 200): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * A service endpoint as scheme, host and path only, for messages and pages:
 * WHATWG URL parsing (the SDK's, a browser's) finds a user and password in
 * forms (`https:user:pw@host`) that a look for "://" misses.
 */
export function endpointShown(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(endpoint not shown: not a URL)';
  }
}

/**
 * Removes what often holds secrets, for logs and reports: the query string and
 * fragment (signed-URL tokens), user information (credentials), and the
 * payload of a data: URI (which may be the key itself).
 */
export function redactUri(uri: string): string {
  if (/^data:/i.test(uri)) {
    const comma = uri.indexOf(',');
    return truncate(comma < 0 ? 'data:…' : `${uri.slice(0, comma + 1)}…`);
  }
  const bare = uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1');
  const q = bare.search(/[?#]/);
  return truncate(q < 0 ? bare : `${bare.slice(0, q)}?…`);
}
