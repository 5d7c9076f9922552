/**
 * Runs a private `nats-server -js` child on a free port with its own store
 * directory, for tests and the demo. It can be killed and restarted on the
 * same port and store, to prove that actors reconnect and nothing is lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.js';

/** A running private nats-server. */
export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** The running server's process id (benchmarks read its CPU), undefined while stopped. */
  readonly pid: number | undefined;
  /** Stops the server (SIGTERM, or SIGKILL with `hard`). */
  kill(hard?: boolean): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Stops it for good and removes its store. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Finds nats-server on PATH or in the Debian package's location; undefined when absent. */
export function findNatsServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/bin'];
  return dirs.map((d) => join(d, 'nats-server')).find((p) => existsSync(p));
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = tcpConnect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms`);
}

/**
 * Starts a JetStream-enabled nats-server; throws with install advice when it is
 * not installed. With `ownProcessGroup`, a terminal's Ctrl-C (sent to the whole
 * foreground group) reaches only the parent, which then stops the server after
 * whatever still talks to it (the demo's daemon).
 */
export async function startNatsServer(o: { port?: number; storeDir?: string; args?: readonly string[]; ownProcessGroup?: boolean } = {}): Promise<NatsServer> {
  const bin = findNatsServer();
  if (!bin) {
    throw new Error('nats-server is not installed. Install it (Debian: apt-get install nats-server) or set NATS_URL to a running server.');
  }
  const port = o.port ?? (await freePort());
  const storeDir = o.storeDir ?? mkdtempSync(join(tmpdir(), 'flants-nats-'));
  let child: ChildProcess | undefined;
  const start = async () => {
    // Its own dir as cwd: the server may write files relative to it (meta files once landed in the repo).
    child = spawn(bin, [...(o.args ?? []), '-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], { stdio: 'ignore', cwd: storeDir, detached: o.ownProcessGroup === true });
    await waitForPort(port, child);
  };
  const kill = async (hard = false) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  await start();
  // In its own group, a terminal's second Ctrl-C (which exits at once, skipping clean-up) would
  // never reach the server: an exit hook, which runs even on process.exit(), ends it and its store.
  const onExit = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(storeDir, { recursive: true, force: true });
  };
  if (o.ownProcessGroup) process.on('exit', onExit);
  const close = async () => {
    await kill();
    rmSync(storeDir, { recursive: true, force: true });
    process.off('exit', onExit);
  };
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return child?.exitCode === null ? child.pid : undefined;
    },
    kill,
    restart: async () => {
      await kill();
      await start();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
