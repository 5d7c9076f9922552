/**
 * A second Ctrl-C, which the demo itself invites ("send again to exit at
 * once"), exits before the clean-up: the nats-server it started in its own
 * process group, and its temp folders, must still go.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { childrenOf, stillRunning } from './helpers/processes.js';

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
    orphans = made.filter(stillRunning);
    console.log({ code, stderr: err, orphans, leftInTmp: readdirSync(tmp) });
    expect(orphans.map((o) => o.command)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  } finally {
    if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGKILL');
    for (const o of orphans) if (stillRunning(o)) process.kill(o.pid, 'SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
}, 120_000);
