/**
 * The byte stream between a source body and an upload: counts (and, when
 * asked, hashes) the bytes, and fails the copy when the source stalls.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { RetryableError } from '../storage/errors.js';

/** Counts (and, when asked, hashes) bytes as they pass, and fails the stream if the source stalls. */
export class VerifyingStall extends Transform {
  readonly md5 = createHash('md5');
  bytes = 0;
  private timer: NodeJS.Timeout;

  constructor(
    private readonly stallMs: number,
    private readonly hash = true,
  ) {
    super();
    this.timer = setTimeout(() => this.stall(), stallMs);
  }

  private stall(): void {
    this.destroy(new RetryableError(`source stalled: no data for ${this.stallMs} ms`));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.timer.refresh();
    this.bytes += chunk.length;
    if (this.hash) this.md5.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    clearTimeout(this.timer);
    cb();
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    clearTimeout(this.timer);
    cb(err);
  }
}

/**
 * Pipes `from` into `guard` and reports the first error of either, destroying
 * both. Plain pipe() rather than stream.pipeline(): pipeline builds an
 * AbortController and a DOMException per call, a measurable share of the
 * copier's CPU at hundreds of small files a second. A source that closes
 * early without an error leaves `guard` waiting, and its stall timer ends it.
 */
export function relay(from: Readable, guard: VerifyingStall, onError: (err: Error) => void): void {
  let failed = false;
  const fail = (err: Error) => {
    if (failed) return;
    failed = true;
    onError(err);
    from.destroy();
    guard.destroy(err);
  };
  if (from.errored) return fail(from.errored);
  from.once('error', fail);
  guard.once('error', fail);
  from.pipe(guard);
}


/** What an upload reads from, and how it learns that the source failed. */
export interface GuardedBody {
  readonly guard: VerifyingStall;
  /** Aborts the upload when the source fails or the caller's signal fires. */
  readonly signal: AbortSignal;
  /** The source's failure, if any: it explains an aborted upload better than the abort does. */
  readonly error: Error | undefined;
  /** Stops following the caller's signal. */
  done(): void;
}

/**
 * Wraps a source body for an upload. The SDK pipes a body into its request
 * without propagating errors: a source that resets, stalls or ends short would
 * leave the upload waiting for bytes that never come. A failing source aborts
 * the upload instead.
 */
export function guardBody(from: Readable, o: { stallTimeoutMs: number; hash?: boolean; signal?: AbortSignal }): GuardedBody {
  const guard = new VerifyingStall(o.stallTimeoutMs, o.hash ?? true);
  const upload = new AbortController();
  const onOuterAbort = () => upload.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let error: Error | undefined;
  relay(from, guard, (err) => {
    error = err;
    upload.abort(err);
  });
  return {
    guard,
    signal: upload.signal,
    get error() {
      return error;
    },
    done: () => o.signal?.removeEventListener('abort', onOuterAbort),
  };
}
