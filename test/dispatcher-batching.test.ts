/** Dispatcher: wave batching with RxJS, and how each job's message ends. */
import { firstValueFrom, Subject, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { intoWaves, settle } from '../actors/wave-batching.js';

describe('dispatcher - batching', () => {
  it('dispatcher - fills waves of 100 and flushes the rest after the maximum wait', async () => {
    const jobs = new Subject<number>();
    const waves: Array<{ size: number; at: number }> = [];
    const started = Date.now();
    const done = firstValueFrom(jobs.pipe(intoWaves<number>(100, 300), toArray()));
    const sub = jobs.pipe(intoWaves<number>(100, 300)).subscribe((w) => waves.push({ size: w.length, at: Date.now() - started }));
    for (let i = 0; i < 250; i++) jobs.next(i);
    await new Promise((r) => setTimeout(r, 500));
    expect(waves.map((w) => w.size)).toEqual([100, 100, 50]);
    // The two full waves leave at once; the partial one waits for the timer.
    expect(waves[0]?.at).toBeLessThan(100);
    expect(waves[2]?.at).toBeGreaterThanOrEqual(250);
    jobs.complete();
    sub.unsubscribe();
    const all = (await done).flat();
    expect(all).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });

  it('dispatcher - a trickle of jobs leaves as small waves, never waiting for 100', async () => {
    const jobs = new Subject<string>();
    const waves: string[][] = [];
    const sub = jobs.pipe(intoWaves<string>(100, 100)).subscribe((w) => waves.push(w));
    jobs.next('a');
    jobs.next('b');
    await new Promise((r) => setTimeout(r, 250));
    jobs.next('c');
    await new Promise((r) => setTimeout(r, 250));
    sub.unsubscribe();
    expect(waves).toEqual([['a', 'b'], ['c']]);
  });

  it('dispatcher - never emits empty waves while idle', async () => {
    const jobs = new Subject<number>();
    const waves: number[][] = [];
    const sub = jobs.pipe(intoWaves<number>(100, 20)).subscribe((w) => waves.push(w));
    await new Promise((r) => setTimeout(r, 120));
    sub.unsubscribe();
    expect(waves).toEqual([]);
  });
});

describe('dispatcher - settling each job', () => {
  const backoff = [1_000, 5_000, 30_000];
  it('dispatcher - acks a success', () => {
    expect(settle({ ok: true }, 1, 3, backoff)).toEqual({ action: 'ack' });
  });
  it('dispatcher - naks a retryable failure with the backoff for that attempt', () => {
    expect(settle({ ok: false, retryable: true }, 1, 3, backoff)).toEqual({ action: 'nak', delayMs: 1_000 });
    expect(settle({ ok: false, retryable: true }, 2, 3, backoff)).toEqual({ action: 'nak', delayMs: 5_000 });
  });
  it('dispatcher - terminates on the last attempt', () => {
    expect(settle({ ok: false, retryable: true }, 3, 3, backoff)).toEqual({ action: 'term' });
  });
  it('dispatcher - terminates a permanent failure at once', () => {
    expect(settle({ ok: false, retryable: false }, 1, 3, backoff)).toEqual({ action: 'term' });
  });
  it('dispatcher - reuses the last backoff when attempts outnumber the list', () => {
    expect(settle({ ok: false, retryable: true }, 5, 10, backoff)).toEqual({ action: 'nak', delayMs: 30_000 });
  });
});
