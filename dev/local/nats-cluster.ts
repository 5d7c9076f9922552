/**
 * A real three-node JetStream cluster on loopback, for tests and benchmarks:
 * three `nats-server` processes (the installed binary) joined by cluster
 * routes, each with its own `server_name`, client port and store directory.
 * Any node can be SIGKILLed and restarted on the same ports and store, to
 * prove that flants rides out leader elections and node loss.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { freePort } from './free-port.js';
import { findNatsServer } from './nats-server.js';

/** One node of the cluster. */
export interface ClusterNode {
  readonly name: string;
  readonly url: string;
  readonly storeDir: string;
  /** The running process id, undefined while stopped. */
  readonly pid: number | undefined;
}

/** A running cluster. */
export interface NatsCluster {
  /** Every node's URL, comma-separated: what NATS_URL takes. */
  readonly url: string;
  readonly nodes: readonly ClusterNode[];
  /** Stops a node (SIGTERM, or SIGKILL with `hard`). */
  kill(name: string, hard?: boolean): Promise<void>;
  /** Starts a stopped node again on its ports and store. */
  start(name: string): Promise<void>;
  /** Waits until JetStream answers with a meta leader and every node is routed again. */
  ready(timeoutMs?: number): Promise<void>;
  /** The server_name leading `stream`, or undefined while it has none. */
  leaderOf(stream: string): Promise<string | undefined>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listening(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Starts `size` (3) routed JetStream nodes and waits for a meta leader. */
export async function startNatsCluster(o: { size?: number; name?: string } = {}): Promise<NatsCluster> {
  const bin = findNatsServer();
  if (!bin) throw new Error('nats-server is not installed. Install it (Debian: apt-get install nats-server).');
  const size = o.size ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'flants-cluster-'));
  const specs = await Promise.all(
    Array.from({ length: size }, async (_, i) => ({ name: `n${i + 1}`, port: await freePort(), routePort: await freePort(), dir: join(root, `n${i + 1}`) })),
  );
  const routes = specs.map((s) => `nats-route://127.0.0.1:${s.routePort}`);
  const children = new Map<string, ChildProcess>();
  for (const s of specs) {
    // A config file, not flags: server_name, cluster name and routes are what JetStream clustering needs.
    writeFileSync(
      join(root, `${s.name}.conf`),
      [
        `server_name: ${s.name}`,
        `listen: 127.0.0.1:${s.port}`,
        `jetstream { store_dir: "${s.dir}" }`,
        `cluster { name: ${o.name ?? 'flants'}, listen: 127.0.0.1:${s.routePort}, routes: [${routes.join(', ')}] }`,
      ].join('\n'),
    );
  }
  const spec = (name: string) => {
    const s = specs.find((x) => x.name === name);
    if (!s) throw new Error(`no node ${name}; the cluster has ${specs.map((x) => x.name).join(', ')}`);
    return s;
  };
  const start = async (name: string) => {
    const s = spec(name);
    // The cluster's own dir as cwd: nothing the server writes lands in the caller's directory.
    const child = spawn(bin, ['-c', join(root, `${s.name}.conf`)], { stdio: 'ignore', cwd: root });
    children.set(name, child);
    for (const until = Date.now() + 10_000; !(await listening(s.port)); await sleep(50)) {
      if (child.exitCode !== null) throw new Error(`nats-server ${name} exited with code ${child.exitCode}`);
      if (Date.now() > until) throw new Error(`nats-server ${name} did not listen on ${s.port} within 10 s`);
    }
  };
  const kill = async (name: string, hard = false) => {
    const c = children.get(spec(name).name);
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  const url = specs.map((s) => `nats://127.0.0.1:${s.port}`).join(',');
  const withManager = async <T>(fn: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>): Promise<T> => {
    const nc = await connect({ servers: url.split(','), timeout: 2_000 });
    try {
      return await fn(await jetstreamManager(nc, { timeout: 2_000 }));
    } finally {
      await nc.close();
    }
  };
  const ready = async (timeoutMs = 30_000) => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      // Account info answers only once the meta group has a leader.
      const ok = await withManager((jsm) => jsm.getAccountInfo()).then(() => true, () => false);
      if (ok) return;
      if (Date.now() > until) throw new Error(`the JetStream cluster had no meta leader within ${timeoutMs} ms`);
      await sleep(200);
    }
  };
  const close = async () => {
    await Promise.all(specs.map((s) => kill(s.name)));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await Promise.all(specs.map((s) => start(s.name)));
    await ready();
  } catch (err) {
    await close();
    throw err;
  }
  return {
    url,
    nodes: specs.map((s) => ({
      name: s.name,
      url: `nats://127.0.0.1:${s.port}`,
      storeDir: s.dir,
      get pid() {
        const c = children.get(s.name);
        return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
      },
    })),
    kill,
    start,
    ready,
    leaderOf: (stream) => withManager((jsm) => jsm.streams.info(stream)).then((i) => i.cluster?.leader, () => undefined),
    close,
    [Symbol.asyncDispose]: close,
  };
}
