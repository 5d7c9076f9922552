/**
 * Bounds how many acknowledged publishes are outstanding at once, and never
 * loses a refusal: every PubAck is awaited and the first failure is kept, so
 * that a caller cannot ack its input (or advance a watermark) past a publish
 * the stream refused. (A `Promise.race` over the window settles on whichever
 * ack comes first and drops a failure that arrives in the same socket read.)
 */
export class PublishWindow {
  private readonly pending = new Set<Promise<unknown>>();
  private failure: { err: unknown } | undefined;

  constructor(private readonly size: number) {}

  /** Adds a publish; waits while the window is full. Throws the first failure seen so far. */
  async add(p: Promise<unknown>): Promise<void> {
    this.check();
    this.pending.add(p);
    p.then(
      () => this.pending.delete(p),
      (err: unknown) => {
        this.pending.delete(p);
        this.failure ??= { err };
      },
    );
    while (this.pending.size >= this.size && !this.failure) {
      await Promise.race(this.pending).catch(() => undefined);
    }
    this.check();
  }

  /** Waits for every publish; throws the first failure, if any. */
  async drain(): Promise<void> {
    await Promise.allSettled(this.pending);
    this.check();
  }

  private check(): void {
    if (this.failure) throw this.failure.err;
  }
}
