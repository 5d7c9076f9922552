/** CPU time and peak RSS of a running child process, read from /proc (Linux). */
import { readFileSync } from 'node:fs';

/** CPU seconds (user + system) and peak RSS in MB; zeros once the process is gone. */
export function procStats(pid: number | undefined): { cpuSeconds: number; peakRssMb: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuSeconds: ticks / 100, peakRssMb: hwm ? Number(hwm[1]) / 1024 : 0 };
  } catch {
    return { cpuSeconds: 0, peakRssMb: 0 };
  }
}
