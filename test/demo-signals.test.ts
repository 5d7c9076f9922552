/**
 * A second Ctrl-C, which the demo itself invites ("send again to exit at
 * once"), exits before the clean-up: the nats-server it started in its own
 * process group, and its temp folders, must still go.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

function childrenOf(pid: number): Array<{ pid: number; command: string }> {
  const found: Array<{ pid: number; command: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) found.push({ pid: Number(entry), command: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() });
    } catch {
      /* gone */
    }
  }
  return found;
}
const alive = (p: { pid: number; command: string }) => {
  try {
    const stat = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z' && readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() === p.command;
  } catch {
    return false;
  }
};

it('cli - demo stopped by Ctrl-C twice leaves no nats-server and no temp folder behind', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'flants-demo-signals-'));
  const child = spawn(process.execPath, ['dist/cli.js', 'demo', '--segments', '200'], {
    env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), TMPDIR: tmp, NATS_URL: 'nats://127.0.0.1:1' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let orphans: Array<{ pid: number; command: string }> = [];
  try {
    for (const until = Date.now() + 60_000; !/^Triggered /m.test(out); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > until) throw new Error(out + err);
    const made = childrenOf(child.pid as number);
    // A terminal's Ctrl-C twice: SIGINT to the whole foreground group, twice.
    process.kill(-(child.pid as number), 'SIGINT');
    await new Promise((r) => setTimeout(r, 100));
    process.kill(-(child.pid as number), 'SIGINT');
    const code = await exited;
    await new Promise((r) => setTimeout(r, 500));
    orphans = made.filter(alive);
    console.log({ code, stderr: err, orphans, leftInTmp: readdirSync(tmp) });
    expect(orphans.map((o) => o.command)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  } finally {
    if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGKILL');
    for (const o of orphans) if (alive(o)) process.kill(o.pid, 'SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
}, 120_000);
