/**
 * Reads files from the configured source: an S3 bucket or a plain HTTP(S) origin.
 * Every read goes through SourceRoot first, and HTTP redirects are followed only
 * while they stay on the source root.
 */
import { Readable } from 'node:stream';
import { etagIsMd5, unquoteEtag } from './etag.js';
import type { ObjectIo } from './object-http.js';
import { isNotFound, NotFoundError, PermanentError, RefusedUriError, RetryableError, ThrottledError, TooLargeError } from './errors.js';
import { redactUri, type SourceRef, type SourceRoot } from './source-root.js';

/** An open source file: its body stream and whatever the source told us about it. */
export interface SourceObject {
  readonly body: Readable;
  /** Content-Length when known; HTTP origins may stream without one. */
  readonly length?: number;
  /** The source's ETag, quotes removed. */
  readonly etag?: string;
  /** The content MD5 (hex) when the source vouches for it: S3 single-part objects without KMS or SSE-C. */
  readonly md5?: string;
  /** What identifies this version of the file: its ETag, else its Last-Modified. Stored with each copy. */
  readonly version?: string;
}

/** Range of bytes to read, inclusive start, exclusive end. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** Options for one read. */
export interface OpenOptions {
  readonly signal?: AbortSignal;
  readonly range?: ByteRange;
  /** Longest wait for the response to start; the body's own stalls are watched by the copier. */
  readonly timeoutMs?: number;
}

/** Reads source files by checked reference. */
export interface SourceReader {
  open(ref: SourceRef, opts?: OpenOptions): Promise<SourceObject>;
  /** Reads a whole (small) file as text, refusing anything larger than `maxBytes`. */
  readText(ref: SourceRef, maxBytes: number, signal?: AbortSignal): Promise<string>;
  /** True when the file exists; throws for errors other than "not found". */
  exists(ref: SourceRef, signal?: AbortSignal): Promise<boolean>;
  /** What the source says about a file without reading it; undefined when it does not exist. */
  stat(ref: SourceRef, signal?: AbortSignal): Promise<SourceStat | undefined>;
}

/** A file's size and identity, as the source reports them. */
export type SourceStat = Omit<SourceObject, 'body'>;

/** The content MD5 an S3 object's ETag vouches for: single-part, not KMS or SSE-C. */
function s3Md5(etag: string | undefined, sse: string | undefined, sseC: string | undefined): string | undefined {
  return etag && etagIsMd5(etag, sse, sseC) ? etag : undefined;
}

const MAX_REDIRECTS = 5;


async function readAll(body: Readable, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) {
      body.destroy();
      throw new TooLargeError(`${what} is larger than the ${maxBytes}-byte playlist limit`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A whole playlist, within `maxBytes` and a deadline: the same rule for every kind of source. */
function readText(reader: Pick<SourceReader, 'open'>, ref: SourceRef, maxBytes: number, signal: AbortSignal | undefined, ms: number): Promise<string> {
  return withDeadline(
    ref,
    signal,
    async (deadline) => {
      const obj = await reader.open(ref, { signal: deadline });
      if (obj.length !== undefined && obj.length > maxBytes) {
        obj.body.destroy();
        throw new TooLargeError(`${ref.path} is ${obj.length} bytes, over the ${maxBytes}-byte playlist limit`);
      }
      return (await readAll(obj.body, maxBytes, ref.path)).toString('utf8');
    },
    ms,
  );
}

/** The ETag without quotes, or undefined when the source sent none. */
const optionalEtag = (etag: string | null | undefined) => unquoteEtag(etag) || undefined;

/** Reads from an S3 (or S3-compatible) bucket. */
export class S3SourceReader implements SourceReader {
  constructor(private readonly io: ObjectIo) {}

  // The bucket and key come from the checked URL, so allow-listed buckets work too.
  private key(ref: SourceRef): { bucket: string; key: string } {
    return { bucket: ref.url.host, key: decodeURIComponent(ref.url.pathname.slice(1)) };
  }

  async open(ref: SourceRef, opts: OpenOptions = {}): Promise<SourceObject> {
    const range = opts.range ? `bytes=${opts.range.start}-${opts.range.end - 1}` : undefined;
    const limit = startTimeout(opts.signal, opts.timeoutMs);
    const { bucket, key } = this.key(ref);
    const out = await this.io
      .get(bucket, key, { range, signal: limit.signal })
      .catch((err) => {
        throw timeoutOr(err, ref, opts);
      })
      .finally(limit.started);
    if (!out.body) throw new RetryableError(`source returned no body for ${ref.path}`);
    const etag = optionalEtag(out.etag);
    // KMS- and SSE-C-encrypted objects have ETags that are not content MD5s.
    const md5 = range ? undefined : s3Md5(etag, out.sse, out.sseCustomerAlgorithm);
    return { body: out.body, length: out.length, etag, md5, version: etag || out.lastModified?.toISOString() };
  }

  readText(ref: SourceRef, maxBytes: number, signal?: AbortSignal): Promise<string> {
    return readText(this, ref, maxBytes, signal, SOURCE_READ_TIMEOUT_MS);
  }

  async exists(ref: SourceRef, signal?: AbortSignal): Promise<boolean> {
    return withDeadline(ref, signal, async (deadline) => (await this.stat(ref, deadline)) !== undefined);
  }

  async stat(ref: SourceRef, signal?: AbortSignal): Promise<SourceStat | undefined> {
    try {
      const { bucket, key } = this.key(ref);
      const out = await this.io.head(bucket, key, signal);
      const etag = optionalEtag(out.etag);
      return {
        length: out.length,
        etag,
        md5: s3Md5(etag, out.sse, out.sseCustomerAlgorithm),
        version: etag || out.lastModified?.toISOString(),
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

/** Reads from a plain HTTP(S) origin, never leaving the source root. */
export class HttpSourceReader implements SourceReader {
  constructor(
    private readonly root: SourceRoot,
    private readonly headers: Record<string, string> = {},
    /** Longest a playlist read or existence check may take. */
    private readonly readTimeoutMs = SOURCE_READ_TIMEOUT_MS,
  ) {}

  private async request(ref: SourceRef, method: 'GET' | 'HEAD', signal?: AbortSignal, range?: ByteRange, timeoutMs?: number): Promise<Response> {
    let url = ref.url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { ...this.headers };
      if (range) headers.range = `bytes=${range.start}-${range.end - 1}`;
      let res: Response;
      const limit = startTimeout(signal, timeoutMs);
      try {
        res = await fetch(url, { method, headers, redirect: 'manual', signal: limit.signal });
      } catch (err) {
        const e = timeoutOr(err, ref, { signal, timeoutMs });
        throw e instanceof RetryableError ? e : new RetryableError(`fetch of ${ref.path} failed: ${(err as Error).message}`, { cause: err });
      } finally {
        limit.started();
      }
      if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        await res.body?.cancel();
        const location = res.headers.get('location') ?? '';
        try {
          url = this.root.resolve(location, url).url;
        } catch (err) {
          // A Location is often a signed URL: only its redacted form may reach reports and logs.
          throw new RefusedUriError(`redirect of ${ref.path} leaves the source (to ${redactUri(location)}): ${(err as Error).message}`);
        }
        continue;
      }
      if (res.ok) return res;
      await res.body?.cancel();
      const what = `GET ${ref.path} answered HTTP ${res.status}`;
      if (res.status === 404 || res.status === 410) throw new NotFoundError(what);
      if (res.status === 403 || res.status === 401) throw new PermanentError(what);
      if (res.status === 429) throw new ThrottledError(what);
      throw new RetryableError(what);
    }
    throw new PermanentError(`${ref.path} redirects more than ${MAX_REDIRECTS} times`);
  }

  async open(ref: SourceRef, opts: OpenOptions = {}): Promise<SourceObject> {
    const res = await this.request(ref, 'GET', opts.signal, opts.range, opts.timeoutMs);
    if (!res.body) throw new RetryableError(`origin returned no body for ${ref.path}`);
    const len = res.headers.get('content-length');
    const etag = optionalEtag(res.headers.get('etag'));
    return {
      body: Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
      // A range or compressed response does not describe the whole file.
      length: len !== null && /^\d+$/.test(len) && !res.headers.get('content-encoding') ? Number(len) : undefined,
      etag,
      version: etag || res.headers.get('last-modified') || undefined,
    };
  }

  readText(ref: SourceRef, maxBytes: number, signal?: AbortSignal): Promise<string> {
    return readText(this, ref, maxBytes, signal, this.readTimeoutMs);
  }

  async exists(ref: SourceRef, signal?: AbortSignal): Promise<boolean> {
    return withDeadline(ref, signal, async (deadline) => (await this.stat(ref, deadline)) !== undefined, this.readTimeoutMs);
  }

  async stat(ref: SourceRef, signal?: AbortSignal): Promise<SourceStat | undefined> {
    try {
      const res = await this.request(ref, 'HEAD', signal);
      await res.body?.cancel();
      const len = res.headers.get('content-length');
      const etag = optionalEtag(res.headers.get('etag'));
      return {
        length: len !== null && /^\d+$/.test(len) && !res.headers.get('content-encoding') ? Number(len) : undefined,
        etag,
        version: etag || res.headers.get('last-modified') || undefined,
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}

/**
 * A signal that follows `signal` and also fires if the response has not
 * started within `timeoutMs`. Call `started()` once headers arrive: the body
 * may then take as long as it keeps flowing (the copier watches its stalls).
 */
function startTimeout(signal: AbortSignal | undefined, timeoutMs: number | undefined): { signal?: AbortSignal; started: () => void } {
  if (!timeoutMs) return { signal, started: () => undefined };
  const ctl = new AbortController();
  const follow = () => ctl.abort(signal?.reason);
  if (signal?.aborted) follow();
  else signal?.addEventListener('abort', follow, { once: true });
  const timer = setTimeout(() => ctl.abort(new DOMException('response did not start in time', 'TimeoutError')), timeoutMs);
  return { signal: ctl.signal, started: () => clearTimeout(timer) };
}

/** A whole playlist read, or an existence check, may take at most this long: a stalled origin never holds a crawl forever. */
export const SOURCE_READ_TIMEOUT_MS = 60_000;

/** Runs `read` with a deadline; past it, a retryable error naming the file. */
async function withDeadline<T>(ref: SourceRef, signal: AbortSignal | undefined, read: (deadline: AbortSignal) => Promise<T>, ms = SOURCE_READ_TIMEOUT_MS): Promise<T> {
  const timeout = AbortSignal.timeout(ms);
  const deadline = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    return await read(deadline);
  } catch (err) {
    if (timeout.aborted && !signal?.aborted) throw new RetryableError(`reading ${ref.path} did not finish within ${ms / 1000} s`, { cause: err });
    throw err;
  }
}

/** Names a response that never started as a retryable stall rather than a bare abort. */
function timeoutOr(err: unknown, ref: SourceRef, opts: { signal?: AbortSignal; timeoutMs?: number }): unknown {
  const aborted = (err as Error)?.name === 'AbortError' || (err as Error)?.name === 'TimeoutError';
  if (aborted && !opts.signal?.aborted && opts.timeoutMs) {
    return new RetryableError(`source did not answer for ${ref.path} within ${opts.timeoutMs} ms`, { cause: err });
  }
  return err;
}

/**
 * Reads each reference with its own root's scheme: s3:// references through
 * S3, http(s):// ones over HTTP. An S3 source may allow-list an https:// root
 * (a key server, a CDN for a few files), and its files must not be looked up
 * in a bucket named after the host.
 */
class SchemeSourceReader implements SourceReader {
  constructor(
    private readonly http: SourceReader,
    private readonly s3: SourceReader | undefined,
  ) {}

  private pick(ref: SourceRef): SourceReader {
    if (ref.url.protocol !== 's3:') return this.http;
    if (!this.s3) throw new PermanentError(`${ref.path} is on S3 (${ref.url.host}), and no S3 client was configured for the source`);
    return this.s3;
  }

  open(ref: SourceRef, opts?: OpenOptions): Promise<SourceObject> {
    return this.pick(ref).open(ref, opts);
  }

  readText(ref: SourceRef, maxBytes: number, signal?: AbortSignal): Promise<string> {
    return this.pick(ref).readText(ref, maxBytes, signal);
  }

  exists(ref: SourceRef, signal?: AbortSignal): Promise<boolean> {
    return this.pick(ref).exists(ref, signal);
  }

  stat(ref: SourceRef, signal?: AbortSignal): Promise<SourceStat | undefined> {
    return this.pick(ref).stat(ref, signal);
  }
}

/**
 * Creates the reader for `root` and its allow-listed roots: S3 (through `s3`,
 * see objectIo()) for s3:// references, HTTP for the others.
 */
export function makeSourceReader(root: SourceRoot, s3: ObjectIo | undefined, headers?: Record<string, string>): SourceReader {
  if (root.location.kind === 's3' && !s3) throw new Error('an s3:// source needs an S3 client');
  return new SchemeSourceReader(new HttpSourceReader(root, headers), s3 ? new S3SourceReader(s3) : undefined);
}
