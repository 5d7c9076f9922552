/**
 * Child processes as /proc shows them, for the tests that check a command
 * leaves nothing running behind it.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The processes whose parent is `pid`, from /proc: their pid and command line. */
export function childrenOf(pid: number): Array<{ pid: number; command: string }> {
  const found: Array<{ pid: number; command: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push({ pid: Number(entry), command: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() });
    } catch {
      // it ended while being read
    }
  }
  return found;
}

/** True while `p` runs (a zombie has ended) with the same command line (its pid was not reused). */
export function stillRunning(p: { pid: number; command: string }): boolean {
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
    return state !== 'Z' && readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() === p.command;
  } catch {
    return false;
  }
}
