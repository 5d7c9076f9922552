/**
 * The destination key suffix of a crawled file. Pure and total: it never
 * throws, whatever a playlist holds, and always yields a key that
 * `checkDestKey` (lambda/transfer-handler.ts) accepts, because a key that
 * only fails inside the Lambda fails its file long after the crawl could
 * have said why.
 */

/**
 * The source path, plus the query string (percent-decoded) only when `keepQuery`
 * (FLANTS_KEEP_QUERY) is set. `ref` is the fetch reference (query kept), `path`
 * the decoded path without query, both as SourceRoot produced them.
 */
export function destKeyFor(ref: string, path: string, keepQuery: boolean): string {
  const key = safePath(path);
  if (!keepQuery) return key;
  const q = ref.indexOf('?');
  if (q < 0) return key;
  const hash = ref.indexOf('#', q);
  const query = ref.slice(q + 1, hash < 0 ? undefined : hash);
  // A raw "/" would add folders to the key, and a control character or
  // backslash is refused by the handler: those are encoded.
  return `${key}?${decodeLenient(query.replace(/[/\\\u0000-\u001f\u007f]/g, escapeChar))}`;
}

/** Dot segments, a leading "/", backslashes and control characters are percent-encoded, never passed on. */
function safePath(path: string): string {
  let out = path.replace(/[\\\u0000-\u001f\u007f]/g, escapeChar);
  if (out.startsWith('/')) out = `%2F${out.slice(1)}`;
  const parts = out.split('/');
  if (!parts.some((p) => p === '.' || p === '..')) return out === path ? path : out;
  return parts.map((p) => (p === '.' || p === '..' ? p.replace(/\./g, '%2E') : p)).join('/');
}

function escapeChar(c: string): string {
  return `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
}

const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
/**
 * Escapes that stay as written: "%" itself and the reserved characters
 * (RFC 3986 2.2), whose decoded and encoded forms mean different queries, and
 * the characters the handler refuses. Decoding only the rest keeps distinct
 * queries distinct keys.
 */
const KEEP_ENCODED = /^[%:/?#[\]@!$&'()*+,;=\\\u0000-\u001f\u007f]$/;

/**
 * Decodes what decodes to plain text and keeps everything else as written: an
 * escape that is not part of a valid UTF-8 sequence (`%E0` alone, a lone
 * surrogate) stays, rather than throwing as decodeURIComponent does.
 */
function decodeLenient(s: string): string {
  return s.replace(ESCAPE_RUN, decodeRun);
}

/** Decodes a run of %XX escapes sequence by sequence. */
function decodeRun(run: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < run.length; i += 3) bytes.push(parseInt(run.slice(i + 1, i + 3), 16));
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i] as number;
    const n = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (n > 0 && i + n <= bytes.length) {
      const escapes = run.slice(i * 3, (i + n) * 3);
      let decoded: string | undefined;
      try {
        decoded = decodeURIComponent(escapes);
      } catch {
        // not a valid UTF-8 sequence (overlong, surrogate, bad continuation)
      }
      if (decoded !== undefined) {
        out += KEEP_ENCODED.test(decoded) ? escapes : decoded;
        i += n;
        continue;
      }
    }
    out += run.slice(i * 3, i * 3 + 3);
    i++;
  }
  return out;
}
