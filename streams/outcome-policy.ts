/**
 * The one rule for how a message ends. Every actor reports what happened to a
 * message (its outcome); this module alone decides whether that means ack,
 * nak with a delay, another throttled round, a reported failure or a
 * dead-letter. Pure: no NATS here, so that it can be tested exhaustively.
 */

/** What one handling of a message came to, as the actor sees it. */
export type Outcome =
  /** Done (copied, counted, handed on): the message is finished. */
  | { readonly kind: 'ok' }
  /** A real attempt failed. `retryable` failures get another attempt while attempts remain. */
  | { readonly kind: 'failed'; readonly retryable: boolean; readonly reason: string }
  /** Slowed down by the far side (429, SlowDown): another round, using up no attempt, up to a ceiling. */
  | { readonly kind: 'throttled'; readonly reason: string }
  /** The message can never be processed (malformed, too big): dead-lettered. */
  | { readonly kind: 'poison'; readonly reason: string }
  /** Not due yet (a live re-crawl waiting for its interval): back later, using up no attempt. */
  | { readonly kind: 'later'; readonly delayMs: number }
  /** Our side broke (a handler threw, results could not be published): back soon, using up no attempt. */
  | { readonly kind: 'crashed'; readonly reason: string };

/** How a message ends, or goes round once more. */
export type Decision =
  | { readonly end: 'ack' }
  /** Redelivered by JetStream after `delayMs`; `free` deliveries are not counted as attempts. */
  | { readonly end: 'nak'; readonly delayMs: number; readonly free: boolean }
  /** Held in process and handled again after `delayMs`: the far side asked us to slow down. */
  | { readonly end: 'throttle-round'; readonly delayMs: number }
  /** The last word: the failure is reported as final, then the message is terminated. */
  | { readonly end: 'fail'; readonly reason: string }
  /** Recorded on the dead-letter subject, then terminated. */
  | { readonly end: 'dead-letter'; readonly reason: string };

/** Settings of the policy, from configuration. */
export interface PolicySettings {
  /** Real attempts per message (FLANTS_MAX_ATTEMPTS). */
  readonly maxAttempts: number;
  /** Delay before attempt n+1 is `backoffMs[n-1]`; past the table, its last entry. */
  readonly backoffMs: readonly number[];
  /** Throttled rounds per message before it fails with reason `throttled`. */
  readonly throttleMaxRounds: number;
  /** Time spent throttled per message before it fails with reason `throttled`. */
  readonly throttleMaxMs: number;
}

/** Where a message stands when its outcome is decided. */
export interface AttemptState {
  /** Real attempts so far, this one included (deliveries minus free ones). */
  readonly attempt: number;
  /** Throttled rounds already taken, and when the first began (epoch ms; 0 if none). */
  readonly throttleRounds: number;
  readonly throttledSince: number;
  /** Free deliveries already taken (handler crashes, not-due naks), for their own backoff. */
  readonly freeDeliveries: number;
  readonly now: number;
}

const FIRST_THROTTLE_MS = 250;
const MAX_THROTTLE_MS = 10_000;
const FIRST_CRASH_MS = 1_000;
/**
 * The longest a not-due message is put back for; one due later is looked at again then. A far-future time (a
 * review's year 9999) was past what nats-server takes as a nak delay: it redelivered at once, in a tight loop.
 */
export const MAX_LATER_MS = 3_600_000;
const MAX_CRASH_MS = 30_000;

/** The one backoff table lookup: attempt n waits entry n-1; past the end, the last entry. */
export function backoffFor(attempt: number, backoffMs: readonly number[]): number {
  if (backoffMs.length === 0) return 1_000;
  return backoffMs[Math.min(Math.max(attempt, 1), backoffMs.length) - 1] as number;
}

/** Decides how a message ends after `outcome`. */
export function decide(outcome: Outcome, s: AttemptState, p: PolicySettings): Decision {
  switch (outcome.kind) {
    case 'ok':
      return { end: 'ack' };
    case 'poison':
      return { end: 'dead-letter', reason: outcome.reason };
    case 'later':
      return { end: 'nak', delayMs: Math.min(MAX_LATER_MS, Math.max(0, outcome.delayMs)), free: true };
    case 'crashed':
      return { end: 'nak', delayMs: Math.min(MAX_CRASH_MS, FIRST_CRASH_MS * 2 ** Math.min(s.freeDeliveries, 10)), free: true };
    case 'failed':
      if (outcome.retryable && s.attempt < p.maxAttempts) return { end: 'nak', delayMs: backoffFor(s.attempt, p.backoffMs), free: false };
      return { end: 'fail', reason: outcome.reason };
    case 'throttled': {
      const elapsed = s.throttleRounds === 0 ? 0 : s.now - s.throttledSince;
      if (s.throttleRounds >= p.throttleMaxRounds || elapsed >= p.throttleMaxMs) {
        return { end: 'fail', reason: `throttled: still slowed down after ${s.throttleRounds} rounds over ${Math.round(elapsed / 1000)} s (${outcome.reason})` };
      }
      return { end: 'throttle-round', delayMs: Math.min(MAX_THROTTLE_MS, FIRST_THROTTLE_MS * 2 ** Math.min(s.throttleRounds, 10)) };
    }
  }
}

/**
 * The server-side redelivery cap: above the real attempts, with room for free
 * deliveries (crashes, restarts, not-due re-crawls). A message that reaches it
 * is reported by the max-deliveries advisory (streams/exhausted-messages.ts).
 */
export function redeliveryCap(maxAttempts: number): number {
  return maxAttempts + 10;
}

/**
 * nats-server before 2.10 ignores a `+TERM` that carries a reason (the message
 * comes back after the ack wait): only 2.10 and later get the reason.
 */
export function honoursTermReason(serverVersion: string | undefined): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(serverVersion ?? '');
  if (!m) return false;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  return major > 2 || (major === 2 && minor >= 10);
}
