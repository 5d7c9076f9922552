/**
 * Decides whether a URI may be fetched: only from the configured source root
 * (same scheme, host, port or bucket, under the prefix) or an explicitly
 * allow-listed root. Everything a playlist references passes through here
 * before anything is requested.
 */
import { isIP } from 'node:net';
import type { SourceLocation } from '../config/locations.js';
import { RefusedUriError } from './errors.js';

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

/** Cloud metadata endpoints by name; their addresses are caught by the link-local check. */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'instance-data.ec2.internal']);

/** True for link-local and well-known metadata addresses, which are never fetched. */
export function isLinkLocalOrMetadata(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (METADATA_HOSTS.has(host)) return true;
  if (isIP(host) === 4) return isLinkLocalV4(host.split('.').map(Number));
  const words = ipv6Words(host);
  if (!words) return false;
  const [w0, w1, w2, w3, w4, w5, w6, w7] = words as [number, number, number, number, number, number, number, number];
  if ((w0 & 0xffc0) === 0xfe80) return true; // fe80::/10
  if (w0 === 0xfd00 && w1 === 0x0ec2) return true; // EC2's IPv6 metadata, fd00:ec2::254
  // An IPv4 address inside an IPv6 one reaches the same host: mapped
  // (::ffff:0:0/96), compatible (::/96), SIIT (::ffff:0:0:0/96), NAT64
  // (64:ff9b::/96, 64:ff9b:1::/48), 6to4 (2002::/16) and Teredo (2001::/32).
  const zeros = (...w: number[]) => w.every((x) => x === 0);
  const tail = [w6 >> 8, w6 & 0xff, w7 >> 8, w7 & 0xff];
  if (zeros(w0, w1, w2, w3, w4) && (w5 === 0xffff || w5 === 0)) return isLinkLocalV4(tail);
  if (zeros(w0, w1, w2, w3) && w4 === 0xffff && w5 === 0) return isLinkLocalV4(tail);
  if (w0 === 0x64 && w1 === 0xff9b && (zeros(w2, w3, w4, w5) || w2 === 1)) return isLinkLocalV4(tail);
  if (w0 === 0x2002) return isLinkLocalV4([w1 >> 8, w1 & 0xff, w2 >> 8, w2 & 0xff]);
  if (w0 === 0x2001 && w1 === 0) return isLinkLocalV4([w2 >> 8, w2 & 0xff, w3 >> 8, w3 & 0xff]) || isLinkLocalV4(tail.map((b) => b ^ 0xff));
  return false;
}

function isLinkLocalV4([a, b, c, d]: number[]): boolean {
  return (a === 169 && b === 254) || (a === 100 && b === 100 && c === 100 && d === 200);
}

/** The eight 16-bit words of an IPv6 address (zone ignored), or undefined when `host` is not one. */
function ipv6Words(host: string): number[] | undefined {
  let h = host.replace(/%.*$/, '');
  if (isIP(h) !== 6) return undefined;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(h);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    h = `${h.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = h.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const fill = rest === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((x) => parseInt(x, 16));
}

/** The configured source root plus allow-listed roots, and the rules that keep every fetch inside them. */
export class SourceRoot {
  readonly root: URL;
  private readonly allowed: URL[];

  /** `allow` lists extra roots (same form as FLANTS_SOURCE) that playlists may reference. */
  constructor(
    readonly location: SourceLocation,
    allow: readonly string[] = [],
  ) {
    this.root = location.kind === 's3'
      ? new URL(`s3://${location.bucket}/${encodePath(location.prefix)}`)
      : new URL(location.root);
    this.allowed = allow.map((a) => {
      const u = new URL(a);
      if (!u.pathname.endsWith('/')) u.pathname += '/';
      return u;
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

  /** Resolves a reference as carried by jobs. */
  fromRef(ref: string): SourceRef {
    return this.resolve(ref, this.root);
  }

  /** Checks that `url` lies under the source root or an allowed root. Throws RefusedUriError naming why not. */
  check(url: URL): SourceRef {
    if (url.username || url.password) throw new RefusedUriError('URI carries credentials');
    if (url.protocol !== 's3:' && isLinkLocalOrMetadata(url.hostname)) {
      throw new RefusedUriError(`${url.hostname} is a link-local or metadata address`);
    }
    const decoded = safeDecodedPath(url);
    for (const extra of this.allowed) {
      if (url.protocol === extra.protocol && url.host === extra.host && url.pathname.startsWith(extra.pathname)) {
        const path = decoded.slice(decodeURIComponent(extra.pathname).length);
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
    const path = fileName(decoded.slice(decodeURIComponent(this.root.pathname).length));
    return { url, path, ref: url.pathname.slice(this.root.pathname.length) + url.search };
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
