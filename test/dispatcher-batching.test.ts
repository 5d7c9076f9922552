/** Dispatcher: wave batching with RxJS, and how each job's message ends. */
import { firstValueFrom, Subject, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { intoBatches as intoWaves } from '../streams/actor-runtime.js';
import { resultsMessages } from '../actors/wave-plan.js';
import { waveResultsSchema, type FileResult, type WaveResults } from '../streams/messages.js';

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

describe('dispatcher - results messages', () => {
  const result = (i: number, key: string): FileResult => ({ classId: 'c', runId: 'r', i, key, ok: true, bytes: i, attempt: 1, final: true });

  it('dispatcher - results leave in messages under the byte limit, counted in UTF-8, each the JSON of its results', () => {
    // Non-ASCII keys: 3 bytes per character in UTF-8, 1 in a JS string's length.
    const results = Array.from({ length: 300 }, (_, i) => result(i, `lecture-${'講'.repeat(i % 40)}-${i}.ts`));
    const limit = 4_096;
    const messages = resultsMessages(results, limit);
    expect(messages.length).toBeGreaterThan(1);
    for (const m of messages) expect(Buffer.byteLength(m)).toBeLessThanOrEqual(limit);
    const parsed = messages.map((m) => waveResultsSchema.parse(JSON.parse(m)));
    expect(parsed.flatMap((p) => p.results)).toEqual(results);
    expect(messages[0]).toBe(JSON.stringify({ results: parsed[0]?.results }));
  });

  it('dispatcher - one result larger than the limit still leaves, alone', () => {
    const messages = resultsMessages([result(0, 'a.ts'), result(1, 'x'.repeat(500)), result(2, 'b.ts')], 200);
    expect(messages.map((m) => (JSON.parse(m) as WaveResults).results.map((r) => r.i))).toEqual([[0], [1], [2]]);
    expect(resultsMessages([], 200)).toEqual([]);
  });
});
