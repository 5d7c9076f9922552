/**
 * An AIMD concurrency limit for Lambda waves: throttling (429, SlowDown)
 * halves it, success grows it back by about one per round of waves, so the
 * dispatcher settles just under what the function and the stores accept.
 */

/** Counters for status and tests. */
export interface LimitStats {
  readonly limit: number;
  readonly inFlight: number;
  readonly throttles: number;
}

export class AdaptiveLimit {
  private current: number;
  private running = 0;
  private waiters: Array<() => void> = [];
  private lastCut = 0;
  private throttleCount = 0;

  constructor(
    private readonly max: number,
    private readonly min = 1,
    private readonly now: () => number = Date.now,
  ) {
    this.current = max;
  }

  /** Waits for a slot under the current limit. */
  async acquire(): Promise<void> {
    while (this.running >= Math.floor(this.current)) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.running++;
  }

  /** Frees a slot; `outcome` adjusts the limit. */
  release(outcome: 'ok' | 'throttled' | 'error'): void {
    this.running--;
    if (outcome === 'throttled') this.onThrottle();
    else if (outcome === 'ok') this.current = Math.min(this.max, this.current + 1 / Math.max(1, this.current));
    this.wake();
  }

  /** Records back-pressure seen outside a slot (per-file SlowDown inside a wave that ran). */
  onThrottle(): void {
    this.throttleCount++;
    // One cut per burst: a wave of 100 throttled files is one signal, not 100.
    if (this.now() - this.lastCut < 1_000) return;
    this.lastCut = this.now();
    this.current = Math.max(this.min, this.current / 2);
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.running + this.waiters.length > 0) {
      const w = this.waiters.shift();
      w?.();
      if (this.running >= Math.floor(this.current)) break;
    }
  }

  stats(): LimitStats {
    return { limit: Math.floor(this.current), inFlight: this.running, throttles: this.throttleCount };
  }
}
