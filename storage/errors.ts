/**
 * The error taxonomy that decides each message's outcome: a PermanentError is
 * terminated and reported at once, anything else is retried.
 */

/** Will fail the same way every time: a 404, a malformed playlist, a refused URI. */
export class PermanentError extends Error {
  override name = 'PermanentError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** May succeed later: timeouts, 5xx, throttling, resets. */
export class RetryableError extends Error {
  override name = 'RetryableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The other side asked us to slow down (HTTP 429, S3 SlowDown). Retried without using up an attempt. */
export class ThrottledError extends RetryableError {
  override name = 'ThrottledError';
}

const THROTTLE_CODES = new Set(['SlowDown', 'TooManyRequestsException', 'Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequests']);

/** True when `err` is back-pressure rather than a fault. */
export function isThrottle(err: unknown): boolean {
  if (err instanceof ThrottledError) return true;
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return THROTTLE_CODES.has(e?.name ?? '') || THROTTLE_CODES.has(e?.Code ?? '') || e?.$metadata?.httpStatusCode === 429;
}

/** The file does not exist at the source (HTTP 404/410, S3 NoSuchKey). */
export class NotFoundError extends PermanentError {
  override name = 'NotFoundError';
}

/** A file read whole (a playlist) is larger than the limit it was read under. */
export class TooLargeError extends PermanentError {
  override name = 'TooLargeError';
}

/** A URI that resolves outside the configured source, or uses a forbidden scheme. Never requested. */
export class RefusedUriError extends PermanentError {
  override name = 'RefusedUriError';
}

const PERMANENT_S3_CODES = new Set([
  'NoSuchKey', 'NoSuchBucket', 'NotFound', 'AccessDenied', 'InvalidObjectState', 'InvalidRange', 'InvalidBucketName',
]);

/** True when retrying `err` cannot help. Unknown errors count as retryable. */
export function isPermanent(err: unknown): boolean {
  if (err instanceof PermanentError) return true;
  if (err instanceof RetryableError) return false;
  const e = err as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (e?.name && PERMANENT_S3_CODES.has(e.name)) return true;
  if (e?.Code && PERMANENT_S3_CODES.has(e.Code)) return true;
  const status = e?.$metadata?.httpStatusCode;
  return status === 403 || status === 404;
}

/** True when `err` says the file does not exist. */
export function isNotFound(err: unknown): boolean {
  if (err instanceof NotFoundError) return true;
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** A one-line description of `err` without stack, for results and reports. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { Code?: string }).Code;
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const prefix = code && !err.message.includes(code) ? `${code}: ` : '';
    const suffix = status && !err.message.includes(String(status)) ? ` (HTTP ${status})` : '';
    return `${prefix}${err.message || err.name}${suffix}`;
  }
  return String(err);
}
