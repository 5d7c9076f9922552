/**
 * `flants status [--class <id...>] [--failed] [--watch] [--json]`: the classes
 * and queues as they stand, once or redrawn until interrupted. Exits 1 when a
 * shown class's latest run failed or is incomplete, so scripts can gate on it.
 */
import type { ConnectionConfig } from '../config/load-config.js';
import { formatSnapshot, readSnapshot, type Snapshot } from '../dashboard/snapshot.js';
import { compareRunIds } from '../streams/run-id.js';
import { topology } from '../streams/topology.js';
import { EXIT, connectOrExplain, type ExitCode } from './failures.js';

/** What `flants status` was asked to show. */
export interface StatusOptions {
  readonly classes?: readonly string[];
  readonly failed: boolean;
  readonly json: boolean;
  /** Redraw every this many milliseconds until `stop` resolves; undefined prints once. */
  readonly watchMs?: number;
}

const isFailure = (status: string) => status === 'failed' || status === 'incomplete';

/** The snapshot as asked for: with a filter, only each class's latest run, then only failures with --failed. */
export function filterSnapshot(s: Snapshot, o: Pick<StatusOptions, 'classes' | 'failed'>): Snapshot {
  if (!o.classes?.length && !o.failed) return s;
  const latest = new Map<string, Snapshot['classes'][number]>();
  for (const c of s.classes) {
    const have = latest.get(c.classId);
    if (!have || compareRunIds(c.runId, have.runId) > 0) latest.set(c.classId, c);
  }
  const classes = [...latest.values()]
    .filter((c) => !o.classes?.length || o.classes.includes(c.classId))
    .filter((c) => !o.failed || isFailure(c.status));
  return { ...s, classes };
}

/** Exit 1 when a shown class's latest run failed or is incomplete. */
export function statusExitCode(s: Snapshot): ExitCode {
  const latest = new Map<string, { runId: string; status: string }>();
  for (const c of s.classes) {
    const have = latest.get(c.classId);
    if (!have || compareRunIds(c.runId, have.runId) > 0) latest.set(c.classId, c);
  }
  return [...latest.values()].some((c) => isFailure(c.status)) ? EXIT.failed : EXIT.ok;
}

/** Prints the status once, or until `stop` resolves with --watch; returns the exit code of the last view. */
export async function runStatusCommand(
  config: ConnectionConfig,
  o: StatusOptions,
  io: { out: NodeJS.WriteStream | NodeJS.WritableStream; stop?: Promise<void> },
): Promise<ExitCode> {
  const nc = await connectOrExplain(config.nats, 'flants-status');
  const t = topology(config.namespace);
  const tty = (io.out as NodeJS.WriteStream).isTTY === true;
  try {
    let stopped = false;
    void io.stop?.then(() => (stopped = true));
    for (;;) {
      // Only the asked-for classes' keys are listed and read; the filter then keeps each one's latest run.
      const snap = filterSnapshot(await readSnapshot(nc, t, config.namespace, { classIds: o.classes?.length ? o.classes : undefined }), o);
      const text = o.json ? JSON.stringify(snap, null, o.watchMs ? undefined : 2) : formatSnapshot(snap);
      // A terminal redraws in place; a pipe gets one snapshot after another.
      io.out.write(`${o.watchMs && tty && !o.json ? '\x1b[H\x1b[2J' : ''}${text}\n${o.watchMs && !o.json && !tty ? '\n' : ''}`);
      const code = statusExitCode(snap);
      if (!o.watchMs || stopped) return code;
      await Promise.race([new Promise((r) => setTimeout(r, o.watchMs)), io.stop]);
      if (stopped) return code;
    }
  } finally {
    await nc.close();
  }
}
