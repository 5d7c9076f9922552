/**
 * Bounds how many acknowledged publishes are outstanding at once, and never
 * loses a refusal: every PubAck is awaited and the first failure is kept, so
 * that a caller cannot ack its input (or advance a watermark) past a publish
 * the stream refused. (A `Promise.race` over the window settles on whichever
 * ack comes first and drops a failure that arrives in the same socket read.)
 *
 * `add` returns nothing while there is room, so that a loop of publishes runs
 * without yielding: the NATS client sends everything queued in one tick as one
 * socket write, and awaiting each publish had made that one write per job (15 %
 * of the crawler's CPU). A full window waits on a counter, not on a race over
 * every outstanding publish (which added a reaction to each, per job).
 */
export class PublishWindow {
  private outstanding = 0;
  private failure: { err: unknown } | undefined;
  private waiters: Array<() => void> = [];

  constructor(private readonly size: number) {}

  /** Adds a publish. Returns a promise only when the window is full; throws the first failure seen so far. */
  add(p: Promise<unknown>): void | Promise<void> {
    // Watched before anything can throw: a publish left unwatched would be an unhandled rejection when it fails.
    this.outstanding++;
    p.then(
      () => this.settled(),
      (err: unknown) => {
        this.failure ??= { err };
        this.settled();
      },
    );
    this.check();
    if (this.outstanding >= this.size) return this.until(() => this.outstanding < this.size);
  }

  /** Waits for every publish; throws the first failure, if any. */
  async drain(): Promise<void> {
    await this.until(() => this.outstanding === 0, true);
  }

  private async until(done: () => boolean, evenAfterFailure = false): Promise<void> {
    while (!done() && (evenAfterFailure || !this.failure)) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.check();
  }

  private settled(): void {
    this.outstanding--;
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }

  private check(): void {
    if (this.failure) throw this.failure.err;
  }
}
