/**
 * The dispatcher's batching and settling rules, kept apart from NATS so that
 * they can be tested on their own.
 */
import { bufferTime, filter, type Observable, type OperatorFunction } from 'rxjs';

/** Groups items into waves of up to `size`, flushing a partial wave after `maxWaitMs`. */
export function intoWaves<T>(size: number, maxWaitMs: number): OperatorFunction<T, T[]> {
  return (source: Observable<T>) =>
    source.pipe(
      bufferTime(maxWaitMs, null, size),
      filter((wave) => wave.length > 0),
    );
}

/** How one job's message ends after an attempt. */
export type Settlement =
  | { readonly action: 'ack' }
  | { readonly action: 'nak'; readonly delayMs: number }
  | { readonly action: 'term' };

/** One attempt's outcome as the dispatcher sees it. */
export interface AttemptOutcome {
  readonly ok: boolean;
  readonly retryable?: boolean;
}

/**
 * Decides a message's end: success acks; a retryable failure with attempts left
 * is nak'd with the backoff for this attempt (redelivered ahead of the backlog);
 * a permanent failure, or the last attempt, terminates it.
 */
export function settle(outcome: AttemptOutcome, attempt: number, maxAttempts: number, backoffMs: readonly number[]): Settlement {
  if (outcome.ok) return { action: 'ack' };
  if (outcome.retryable && attempt < maxAttempts) {
    const delayMs = backoffMs[Math.min(attempt - 1, backoffMs.length - 1)] ?? 1_000;
    return { action: 'nak', delayMs };
  }
  return { action: 'term' };
}
