/**
 * Live progress of class runs for a person. On a terminal: one bar per class,
 * redrawn in place by cli-progress, with each finished class's line printed
 * above the bars. Anywhere else (a pipe, a file): plain lines, one summary at
 * most every few seconds and only when something moved, so that a log holds
 * no escape codes and no wall of repeated bars.
 */
import cliProgress from 'cli-progress';

/** What a bar shows of a class; `ClassView` (dashboard/class-view.ts) has it. */
export interface ClassCounts {
  readonly classId: string;
  readonly status: string;
  readonly total: number | null;
  readonly done: number;
  readonly failed: number;
}

/** A live view of several class runs. */
export interface ProgressBars {
  /** Shows these classes' counts (the classes not finished yet). */
  show(classes: readonly ClassCounts[]): void;
  /** Prints a line of its own: above the bars on a terminal. */
  print(line: string): void;
  /** Removes a finished class's bar. */
  finish(classId: string): void;
  /** Removes every bar and gives the cursor back; safe to call twice. */
  stop(): void;
}

/** Class ids are untrusted text: control characters would drive the terminal. */
const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');

/** Redrawn bars, for a terminal. */
function terminalBars(out: NodeJS.WriteStream): ProgressBars {
  const multi = new cliProgress.MultiBar(
    {
      stream: out,
      format: '  [{bar}] {percentage}% {status} {classId} {value}/{total} files{failed}',
      barCompleteChar: '#',
      barIncompleteChar: '.',
      barsize: 20,
      // A hidden cursor would stay hidden after a Ctrl-C that ends the process before stop().
      hideCursor: false,
      clearOnComplete: true,
      autopadding: true,
      // Redrawn on every tick: a bar skipped as unchanged stayed blank after a finished class's line was printed above it.
      forceRedraw: true,
      // Signals belong to the entry point, which stops the bars as part of its clean-up.
      gracefulExit: false,
    },
    cliProgress.Presets.legacy,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  let stopped = false;
  return {
    show(classes) {
      if (stopped) return;
      for (const c of classes) {
        const payload = { classId: printable(c.classId), status: c.status.padEnd(12), failed: c.failed ? `, ${c.failed} failed` : '' };
        const total = Math.max(1, c.total ?? 0);
        const bar = bars.get(c.classId);
        if (!bar) {
          bars.set(c.classId, multi.create(total, c.done + c.failed, payload));
        } else {
          bar.setTotal(total);
          bar.update(c.done + c.failed, payload);
        }
      }
    },
    print(line) {
      if (stopped) return void out.write(`${line}\n`);
      multi.log(`${line}\n`);
      // Drawn now, not at the next tick: a line still buffered when the bars stop would be lost.
      multi.update();
    },
    finish(classId) {
      const bar = bars.get(classId);
      if (!bar || stopped) return;
      bars.delete(classId);
      multi.remove(bar);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      multi.stop();
    },
  };
}

/** Plain lines, for pipes and files. */
function plainLines(out: NodeJS.WritableStream, everyMs: number): ProgressBars {
  let last = '';
  let lastAt = 0;
  return {
    show(classes) {
      const total = classes.reduce((n, c) => n + (c.total ?? 0), 0);
      const settled = classes.reduce((n, c) => n + c.done + c.failed, 0);
      const failed = classes.reduce((n, c) => n + c.failed, 0);
      if (classes.length === 0 || total === 0) return;
      const line = `  progress  ${settled}/${total} files (${Math.floor((settled / total) * 100)}%) in ${classes.length} classes${failed ? `, ${failed} failed` : ''}`;
      if (line === last || Date.now() - lastAt < everyMs) return;
      last = line;
      lastAt = Date.now();
      out.write(`${line}\n`);
    },
    print(line) {
      out.write(`${line}\n`);
    },
    finish() {},
    stop() {},
  };
}

/** Bars on a terminal, plain lines (at most one per `plainEveryMs`) anywhere else. */
export function progressBars(out: NodeJS.WriteStream | NodeJS.WritableStream, plainEveryMs = 2_000): ProgressBars {
  const tty = (out as NodeJS.WriteStream).isTTY === true;
  return tty ? terminalBars(out as NodeJS.WriteStream) : plainLines(out, plainEveryMs);
}
