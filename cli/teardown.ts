/**
 * Undoes what a command set up, last first, on every way out of it. Each step
 * is bounded: a daemon draining towards a nats-server that the terminal's
 * Ctrl-C has already stopped must not keep the temp folders from going.
 */

/** One thing to undo. */
interface Step {
  readonly name: string;
  readonly undo: () => unknown;
}

/** Steps registered as their resources come up, run in reverse. */
export class Teardown {
  private readonly steps: Step[] = [];

  /**
   * @param onFailure told about a step that failed or overran, after which the next step runs anyway
   * @param stepTimeoutMs the longest one step may take
   */
  constructor(
    private readonly onFailure: (name: string, err: unknown) => void,
    private readonly stepTimeoutMs = 10_000,
  ) {}

  /** Registers `undo` to run before every step registered earlier. */
  add(name: string, undo: () => unknown): void {
    this.steps.push({ name, undo });
  }

  /** Runs and forgets every step, last registered first; never throws. */
  async run(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      let timer: NodeJS.Timeout | undefined;
      const overran = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${step?.name}: still running after ${this.stepTimeoutMs} ms, left behind`)), this.stepTimeoutMs);
      });
      try {
        await Promise.race([Promise.resolve().then(step.undo), overran]);
      } catch (err) {
        this.onFailure(step.name, err);
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
