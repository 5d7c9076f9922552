/** Dispatcher: wave batching with RxJS, and how each job's message ends. */
import { firstValueFrom, Subject, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { intoBatches as intoWaves } from '../streams/actor-runtime.js';

describe('dispatcher - batching', () => {
  it('dispatcher - fills waves of 100 and flushes the rest after the maximum wait', async () => {
    const jobs = new Subject<number>();
    const waves: Array<{ size: number; at: number }> = [];
    const started = Date.now();
    const done = firstValueFrom(jobs.pipe(intoWaves<number>(100, 300), toArray()));
    const sub = jobs.pipe(intoWaves<number>(100, 300)).subscribe((w) => waves.push({ size: w.length, at: Date.now() - started }));
    for (let i = 0; i < 250; i++) jobs.next(i);
    // The two full waves leave at once: before any timer could run (a clock reading here failed once at 104 ms for
    // 100 on 2 busy cores, with the waves still emitted synchronously); the partial one waits for the timer.
    expect(waves.map((w) => w.size)).toEqual([100, 100]);
    await new Promise((r) => setTimeout(r, 500));
    expect(waves.map((w) => w.size)).toEqual([100, 100, 50]);
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
