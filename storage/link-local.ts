/**
 * Recognises link-local and cloud metadata addresses, which are never fetched.
 * Its own module because both the configuration (config/locations.ts) and the
 * fetch guard (source-root.ts) check it, and the guard depends on the configuration.
 */
import { isIP } from 'node:net';

/** Cloud metadata endpoints by name; their addresses are caught by the link-local check. */
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'instance-data.ec2.internal']);

/** True for link-local and well-known metadata addresses, which are never fetched. */
export function isLinkLocalOrMetadata(hostname: string): boolean {
  // Trailing dots name the same host (`metadata.google.internal.`).
  const host = hostname.replace(/^\[|\]$/g, '').replace(/\.+$/, '').toLowerCase();
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
