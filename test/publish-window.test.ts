/**
 * The crawler's publish window: a loop of publishes must not yield while there
 * is room (the client then sends them in one socket write), must wait when the
 * window is full, and must never lose a refusal.
 */
import { describe, expect, it } from 'vitest';
import { PublishWindow } from '../streams/publish-window.js';

function deferred() {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('publish window', () => {
  it('publish window - returns nothing while there is room, and waits once full until a publish settles', async () => {
    const w = new PublishWindow(3);
    const ps = [deferred(), deferred(), deferred(), deferred()];
    expect(w.add(ps[0]!.promise)).toBeUndefined();
    expect(w.add(ps[1]!.promise)).toBeUndefined();
    const full = w.add(ps[2]!.promise);
    expect(full).toBeInstanceOf(Promise);
    let resumed = false;
    void full?.then(() => (resumed = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(resumed).toBe(false);
    ps[1]!.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(resumed).toBe(true);
    expect(w.add(ps[3]!.promise)).toBeInstanceOf(Promise);
    let drained = false;
    const drain = w.drain().then(() => (drained = true));
    ps[0]!.resolve();
    ps[2]!.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(drained).toBe(false);
    ps[3]!.resolve();
    await drain;
    expect(drained).toBe(true);
  });

  it('publish window - a refusal is thrown by the next add or by drain, and a publish added after it is still watched', async () => {
    const w = new PublishWindow(10);
    const first = deferred();
    w.add(first.promise);
    first.reject(new Error('refused: stream full'));
    await new Promise((r) => setTimeout(r, 0));
    const late = deferred();
    // Added after the refusal: the add throws it, and this publish's own failure must not go unhandled.
    expect(() => w.add(late.promise)).toThrow(/stream full/);
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    late.reject(new Error('refused too'));
    await new Promise((r) => setTimeout(r, 20));
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
    await expect(w.drain()).rejects.toThrow(/stream full/);
  });

  it('publish window - a full window stops waiting at the first refusal', async () => {
    const w = new PublishWindow(2);
    const a = deferred();
    const b = deferred();
    w.add(a.promise);
    const full = w.add(b.promise);
    a.reject(new Error('refused: no stream'));
    await expect(full).rejects.toThrow(/no stream/);
    b.resolve();
    await expect(w.drain()).rejects.toThrow(/no stream/);
  });
});
