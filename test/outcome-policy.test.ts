/** The outcome policy: the one rule for how every message ends, checked exhaustively. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffFor, decide, honoursTermReason, redeliveryCap, type Outcome, type PolicySettings } from '../streams/outcome-policy.js';

const settings: PolicySettings = { maxAttempts: 3, backoffMs: [1_000, 5_000, 30_000], throttleMaxRounds: 5, throttleMaxMs: 60_000 };
const state = (attempt: number, extra: Partial<{ throttleRounds: number; throttledSince: number; freeDeliveries: number; now: number }> = {}) => ({
  attempt,
  throttleRounds: 0,
  throttledSince: 0,
  freeDeliveries: 0,
  now: 1_000_000,
  ...extra,
});

const outcomeArb: fc.Arbitrary<Outcome> = fc.oneof(
  fc.constant<Outcome>({ kind: 'ok' }),
  fc.record({ kind: fc.constant('failed' as const), retryable: fc.boolean(), reason: fc.string() }),
  fc.record({ kind: fc.constant('throttled' as const), reason: fc.string() }),
  fc.record({ kind: fc.constant('poison' as const), reason: fc.string() }),
  fc.record({ kind: fc.constant('later' as const), delayMs: fc.integer({ min: 0, max: 3_600_000 }) }),
  fc.record({ kind: fc.constant('crashed' as const), reason: fc.string() }),
);
const settingsArb: fc.Arbitrary<PolicySettings> = fc.record({
  maxAttempts: fc.integer({ min: 1, max: 20 }),
  backoffMs: fc.array(fc.integer({ min: 0, max: 600_000 }), { minLength: 1, maxLength: 6 }),
  throttleMaxRounds: fc.integer({ min: 0, max: 100 }),
  throttleMaxMs: fc.integer({ min: 0, max: 3_600_000 }),
});

describe('outcome policy - examples', () => {
  it('outcome policy - acks a success', () => {
    expect(decide({ kind: 'ok' }, state(1), settings)).toEqual({ end: 'ack' });
  });
  it('outcome policy - naks a retryable failure with the backoff for that attempt, counting it', () => {
    expect(decide({ kind: 'failed', retryable: true, reason: 'x' }, state(1), settings)).toEqual({ end: 'nak', delayMs: 1_000, free: false });
    expect(decide({ kind: 'failed', retryable: true, reason: 'x' }, state(2), settings)).toEqual({ end: 'nak', delayMs: 5_000, free: false });
  });
  it('outcome policy - the last attempt and a permanent failure are final, with their reason', () => {
    expect(decide({ kind: 'failed', retryable: true, reason: 'timeout' }, state(3), settings)).toEqual({ end: 'fail', reason: 'timeout' });
    expect(decide({ kind: 'failed', retryable: false, reason: '404' }, state(1), settings)).toEqual({ end: 'fail', reason: '404' });
  });
  it('outcome policy - poison is dead-lettered', () => {
    expect(decide({ kind: 'poison', reason: 'bad json' }, state(1), settings)).toEqual({ end: 'dead-letter', reason: 'bad json' });
  });
  it('outcome policy - throttling goes round until its ceiling, then fails with reason throttled', () => {
    expect(decide({ kind: 'throttled', reason: '429' }, state(1), settings)).toMatchObject({ end: 'throttle-round' });
    const rounds = decide({ kind: 'throttled', reason: '429' }, state(1, { throttleRounds: 5, throttledSince: 999_000 }), settings);
    expect(rounds).toMatchObject({ end: 'fail' });
    expect((rounds as { reason: string }).reason).toMatch(/^throttled/);
    const time = decide({ kind: 'throttled', reason: '429' }, state(1, { throttleRounds: 2, throttledSince: 1_000_000 - 60_000 }), settings);
    expect(time).toMatchObject({ end: 'fail' });
  });
  it('outcome policy - one backoff table: past its end, the last entry', () => {
    expect([1, 2, 3, 4, 9].map((a) => backoffFor(a, [1, 2, 3]))).toEqual([1, 2, 3, 3, 3]);
  });
  it('outcome policy - knows which servers honour a reason on term', () => {
    expect(honoursTermReason('2.9.10')).toBe(false);
    expect(honoursTermReason('2.10.0')).toBe(true);
    expect(honoursTermReason('2.11.4')).toBe(true);
    expect(honoursTermReason('3.0.0')).toBe(true);
    expect(honoursTermReason(undefined)).toBe(false);
  });
});

describe('outcome policy - properties', () => {
  it('outcome policy - every outcome ends a message or sends it round, never both, never neither', () => {
    fc.assert(
      fc.property(outcomeArb, settingsArb, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 200 }), (o, p, attempt, rounds) => {
        const d = decide(o, state(attempt, { throttleRounds: rounds, throttledSince: 0 }), p);
        expect(['ack', 'nak', 'throttle-round', 'fail', 'dead-letter']).toContain(d.end);
        if ('delayMs' in d) expect(d.delayMs).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  it('outcome policy - a file is never retried past its attempts, and only real failures count', () => {
    fc.assert(
      fc.property(outcomeArb, settingsArb, fc.integer({ min: 1, max: 40 }), (o, p, attempt) => {
        const d = decide(o, state(attempt), p);
        if (d.end === 'nak' && !d.free) {
          expect(o.kind).toBe('failed');
          expect(attempt).toBeLessThan(p.maxAttempts);
        }
        if (d.end === 'nak' && d.free) expect(['later', 'crashed']).toContain(o.kind);
        if (o.kind === 'failed' && attempt >= p.maxAttempts) expect(d.end).toBe('fail');
      }),
    );
  });

  it('outcome policy - a message due far in the future is put back for an hour at most', () => {
    // From a review: a crawl job due in the year 9999 asked nats-server for a nak delay it would not take; it
    // redelivered at once, 13 times in a row, and the run was reported failed for its redelivery cap.
    const far = decide({ kind: 'later', delayMs: Date.parse('9999-01-01T00:00:00Z') - Date.now() }, state(1), settings);
    expect(far).toEqual({ end: 'nak', delayMs: 3_600_000, free: true });
    expect(decide({ kind: 'later', delayMs: 5_000 }, state(1), settings)).toEqual({ end: 'nak', delayMs: 5_000, free: true });
  });

  it('outcome policy - a run of failures always ends in exactly one final failure within maxAttempts', () => {
    fc.assert(
      fc.property(settingsArb, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (p, retryable) => {
        let finals = 0;
        let attempt = 1;
        for (; attempt <= 40; attempt++) {
          const d = decide({ kind: 'failed', retryable: retryable[attempt - 1] as boolean, reason: 'r' }, state(attempt), p);
          if (d.end === 'fail') {
            finals++;
            break;
          }
          expect(d.end).toBe('nak');
        }
        expect(finals).toBe(1);
        expect(attempt).toBeLessThanOrEqual(p.maxAttempts);
      }),
    );
  });

  it('outcome policy - throttling always ends: within the round ceiling the message fails as throttled', () => {
    fc.assert(
      fc.property(settingsArb, fc.integer({ min: 1, max: 1_000 }), (p, stepMs) => {
        let rounds = 0;
        let now = 1_000;
        const since = now;
        for (;;) {
          const d = decide({ kind: 'throttled', reason: '429' }, state(1, { throttleRounds: rounds, throttledSince: since, now }), p);
          if (d.end === 'fail') {
            expect(d.reason).toMatch(/^throttled/);
            break;
          }
          expect(d.end).toBe('throttle-round');
          rounds++;
          now += stepMs;
          expect(rounds).toBeLessThanOrEqual(p.throttleMaxRounds);
        }
      }),
    );
  });

  it('outcome policy - the server cap leaves room above the attempts for free deliveries', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 100 }), (n) => redeliveryCap(n) > n));
  });
});
