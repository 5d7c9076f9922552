/**
 * Runs a private one-node Ceph cluster with its RADOS Gateway: a real S3
 * implementation for tests, benchmarks and anyone trying flants locally.
 * One ceph-mon, one ceph-osd (BlueStore in a sparse file) and radosgw, on
 * free ports of 127.0.0.1, in a temp dir of its own, with an S3 user whose keys
 * are generated. Installs Debian's Ceph packages when they are missing (root).
 * `close()` stops exactly the processes it started, then removes the dir.
 *
 * Run it by hand with `node dist/dev/local/ceph-rgw.js`: it prints the S3
 * settings as `export` lines and runs until SIGINT or SIGTERM.
 */
import { execFile as execFileCb, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { makeS3Client } from '../../storage/s3-client.js';
import { freePort } from './free-port.js';

const execFile = promisify(execFileCb);

/** A running private RADOS Gateway. */
export interface CephRgw {
  /** `http://127.0.0.1:<port>`; path-style addressing, region `us-east-1`. */
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly dataDir: string;
  /** How long the start took, in ms (install excluded). */
  readonly startMs: number;
  /** The process ids of mon, osd and radosgw (benchmarks read their CPU). */
  readonly pids: { readonly mon: number; readonly osd: number; readonly rgw: number };
  /** An S3 client for this gateway with its user's keys. */
  client(): S3Client;
  /** Creates a bucket owned by the S3 user. */
  createBucket(name: string): Promise<void>;
  /** Stops radosgw, the OSD and the monitor (the processes started here, by pid), then removes the data dir. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The packages that hold ceph-mon, ceph-osd, radosgw, radosgw-admin, ceph and monmaptool. */
export const CEPH_PACKAGES = ['radosgw', 'ceph-mon', 'ceph-osd', 'ceph-common'] as const;
const BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool'] as const;
// radosgw creates these on its first request, one map change each; made up front they cost one start-up step.
const RGW_POOLS = [
  '.rgw.root', 'default.rgw.log', 'default.rgw.control', 'default.rgw.meta',
  'default.rgw.buckets.index', 'default.rgw.buckets.data', 'default.rgw.buckets.non-ec',
] as const;

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p));
}

const missingBinaries = () => BINARIES.filter((b) => !findBinary(b));

/** Installs Debian's Ceph packages when a binary is missing. Needs root and apt-get. */
export async function ensureCephInstalled(log: (line: string) => void = () => undefined): Promise<void> {
  if (missingBinaries().length === 0) return;
  if (process.getuid?.() !== 0 || !findBinary('apt-get')) {
    throw new Error(`Ceph is not installed (missing ${missingBinaries().join(', ')}). As root on Debian: apt-get install -y --no-install-recommends ${CEPH_PACKAGES.join(' ')}`);
  }
  log(`installing ${CEPH_PACKAGES.join(' ')} from Debian`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => execFile('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...CEPH_PACKAGES], { env, maxBuffer: 64 << 20 });
  // A stale package index is the usual reason an install fails on a fresh machine.
  await install().catch(async () => {
    await execFile('apt-get', ['update', '-qq'], { env, maxBuffer: 64 << 20 });
    await install();
  });
  if (missingBinaries().length) throw new Error(`installed ${CEPH_PACKAGES.join(' ')}, but ${missingBinaries().join(', ')} is still missing`);
}

function cephConf(o: { dir: string; fsid: string; monPort: number; rgwPort: number; storeSize: number }): string {
  const { dir } = o;
  return `# written by dev/local/ceph-rgw.ts
[global]
fsid = ${o.fsid}
mon host = v2:127.0.0.1:${o.monPort}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
# cluster-internal auth is off; S3 SigV4 auth is checked as usual
auth cluster required = none
auth service required = none
auth client required = none
keyring = /dev/null
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
pid file =
log file = ${dir}/log/$name.log
log to stderr = false
err to stderr = false
crash dir = ${dir}/crash
mon cluster log file = ${dir}/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# one monitor: commit map changes at once (the default waits 1 s per change)
paxos propose interval = 0.05
mon data avail warn = 2
mon warn on insecure global id reclaim allowed = false

[mon]
mon data = ${dir}/$name
mon initial members = a

[osd]
osd data = ${dir}/$name
osd objectstore = bluestore
bluestore block path = ${dir}/osd.0.block
bluestore block create = true
bluestore block size = ${o.storeSize}
bluestore block db create = false
bluestore block wal create = false
bluestore cache autotune = false
bluestore cache size = 128M
bluestore fsck on mount = false
# the block file sits on a filesystem: HDD tunables throttle small writes (about 3x fewer PUT/s)
bluestore debug enforce settings = ssd
osd memory target = 939524096
osd op num shards = 2
osd op num threads per shard = 2

[client.rgw]
# radosgw defaults to cephx and a "secure" mon connection; auth is off here
auth client required = none
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:${o.rgwPort}
rgw thread pool size = 128
rgw dns name = localhost
rgw enable usage log = false
rgw data = ${dir}/rgw
`;
}

async function waitFor(what: string, dir: string, check: () => Promise<boolean>, timeoutMs: number, children: ChildProcess[]): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null);
    if (dead) throw new Error(`${dead.spawnargs[0]} exited (${dead.exitCode ?? dead.signalCode}) while waiting for ${what}; logs in ${dir}/log`);
    if (await check().catch(() => false)) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; logs in ${dir}/log`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** Starts a fresh private cluster and gateway. Throws (having stopped what it started) when any step fails. */
export async function startCephRgw(o: { storeSize?: number; log?: (line: string) => void } = {}): Promise<CephRgw> {
  const log = o.log ?? (() => undefined);
  await ensureCephInstalled(log);
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'flants-rgw-'));
  for (const sub of ['run', 'log', 'crash', 'rgw', 'osd.0']) mkdirSync(join(dir, sub));
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'ceph.conf');
  const fsid = randomUUID();
  writeFileSync(conf, cephConf({ dir, fsid, monPort, rgwPort, storeSize: o.storeSize ?? 8 * 1024 ** 3 }));
  const C = ['-c', conf];
  const ceph = (...args: string[]) => execFile('ceph', [...C, '--connect-timeout', '10', ...args], { maxBuffer: 16 << 20 });

  const children: ChildProcess[] = [];
  // Each daemon runs in the foreground (-f) as a child of this process, so its pid is the one to stop.
  const daemon = (name: string, bin: string, args: string[]): ChildProcess => {
    const out = openSync(join(dir, 'log', `${name}.stdout`), 'a');
    const child = spawn(bin, [...C, ...args, '-f'], { stdio: ['ignore', out, out] });
    closeSync(out);
    child.on('error', () => undefined); // seen through exitCode by waitFor
    children.push(child);
    return child;
  };
  const stopAll = async () => {
    // The data dir goes with the cluster, so nothing needs a clean shutdown: SIGTERM, and SIGKILL for a daemon that lingers.
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(killer);
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  // A test runner that dies without teardown must not leave a cluster behind.
  const onExit = () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
  process.once('exit', onExit);

  try {
    await execFile('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, join(dir, 'monmap')]);
    await execFile('ceph-mon', [...C, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]);
    const mon = daemon('mon.a', 'ceph-mon', ['-i', 'a']);
    await waitFor('the monitor', dir, async () => (await ceph('mon', 'stat'), true), 60_000, children);
    const osdUuid = randomUUID();
    const osdId = (await ceph('osd', 'new', osdUuid)).stdout.trim();
    if (osdId !== '0') throw new Error(`expected OSD id 0, the monitor gave ${JSON.stringify(osdId)}`);
    await execFile('ceph-osd', [...C, '-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
    for (const pool of RGW_POOLS) await ceph('osd', 'pool', 'create', pool, '8', '8');
    await Promise.all(RGW_POOLS.map((pool) => ceph('osd', 'pool', 'application', 'enable', pool, 'rgw')));
    const osd = daemon('osd.0', 'ceph-osd', ['-i', '0']);
    await waitFor('the OSD', dir, async () => /^osd\.0 up/m.test((await ceph('osd', 'dump')).stdout), 90_000, children);
    const rgw = daemon('client.rgw', 'radosgw', ['-n', 'client.rgw']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitFor(`radosgw on ${endpoint}`, dir, async () => (await fetch(endpoint)).status > 0, 120_000, children);
    const accessKeyId = `FLANTS${randomBytes(7).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(30).toString('base64url');
    await execFile('radosgw-admin', [...C, 'user', 'create', '--uid=flants', '--display-name=flants', `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`]);
    const startMs = Date.now() - t0;
    log(`RADOS Gateway ready in ${(startMs / 1000).toFixed(1)} s at ${endpoint} (data dir ${dir})`);

    let closing: Promise<void> | undefined;
    const close = () => {
      closing ??= stopAll().finally(() => process.off('exit', onExit));
      return closing;
    };
    const client = () => makeS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxSockets: 16 });
    return {
      endpoint,
      accessKeyId,
      secretAccessKey,
      dataDir: dir,
      startMs,
      pids: { mon: mon.pid as number, osd: osd.pid as number, rgw: rgw.pid as number },
      client,
      createBucket: async (name) => {
        const s3 = client();
        try {
          await s3.send(new CreateBucketCommand({ Bucket: name }));
        } finally {
          s3.destroy();
        }
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (err) {
    await stopAll();
    process.off('exit', onExit);
    throw err;
  }
}

// `node dist/dev/local/ceph-rgw.js`: a gateway for trying flants by hand.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const rgw = await startCephRgw({ log: (line) => process.stderr.write(`[ceph-rgw] ${line}\n`) });
  process.stdout.write(
    [
      `export FLANTS_SOURCE_ENDPOINT=${rgw.endpoint} FLANTS_DEST_ENDPOINT=${rgw.endpoint} AWS_REGION=us-east-1`,
      `export AWS_ACCESS_KEY_ID=${rgw.accessKeyId} AWS_SECRET_ACCESS_KEY=${rgw.secretAccessKey}`,
      // The tests reuse this gateway instead of starting their own (test/helpers/rgw-global.ts).
      `export FLANTS_TEST_RGW=${rgw.endpoint},${rgw.accessKeyId},${rgw.secretAccessKey}`,
      '',
    ].join('\n'),
  );
  const stop = () => void rgw.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
