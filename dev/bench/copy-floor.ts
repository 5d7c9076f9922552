/**
 * The copy's floor on Ceph RGW: what the same library costs to copy, in CPU
 * per file, at each layer of flants' copy path, against rclone in the same
 * rounds on the same server:
 *
 *   raw       GET piped into PUT with flants' object calls, one process
 *   handler   the transfer Lambda's handler, in one process, waves of 32
 *   endpoint  the same waves through the local Lambda endpoint
 *   rclone    `rclone copy --transfers 32 --checkers 16 --fast-list`
 *
 * Each runs in its own process into a fresh prefix; the order rotates every
 * round, because this host's speed drifts by tens of percent within an hour.
 * `raw` is the least any Node copier built on node:http can spend; the e2e
 * benchmark adds the daemon and NATS on top of `endpoint`. What is not alike:
 * the Node variants copy 64 files at once and rclone 32 (`--transfers 32`, as
 * the e2e benchmark runs it); rclone 1.60 also HEADs each file it uploads, so
 * RGW works more per file for it; and rclone's CPU is its whole process (start,
 * listings), the Node variants' from their first request on, the local
 * endpoint's worker start-up left out.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCephRgw } from '../local/ceph-rgw.js';
import { writeSyntheticLibrary } from '../local/synthetic-library.js';
import { makeS3Client } from '../../storage/s3-client.js';
import { procStats } from './proc-stats.js';
import { rcloneCopy, rcloneEnv } from './rclone.js';

export type FloorVariant = 'raw' | 'handler' | 'endpoint' | 'rclone';

/** A run that takes longer has hung (a full OSD leaves writes hanging rather than refusing them). */
const RUN_TIMEOUT_MS = 20 * 60_000;

/** One variant's copy of the library in one round. */
export interface FloorRun {
  readonly round: number;
  readonly variant: FloorVariant;
  readonly filesPerSecond: number;
  /** The copier's CPU (user + system) per file. */
  readonly cpuMsPerFile: number;
  /** RGW's CPU (monitor, OSD and gateway) per file in the same run. */
  readonly serverMsPerFile: number;
}

const VARIANTS: readonly FloorVariant[] = ['raw', 'handler', 'endpoint', 'rclone'];

export async function copyFloorBenchmark(o: { classes: number; renditions: number; segments: number; rounds: number }): Promise<{ files: number; bytes: number; runs: FloorRun[] }> {
  // Every run keeps its copy (about 1 GB each, 13 in all): the default 8 GiB store fills up, and a full
  // OSD does not refuse a write, it leaves it hanging. The store is a sparse file: it takes what is written.
  const rgw = await startCephRgw({ storeSize: 32 * 1024 ** 3 });
  const dir = mkdtempSync(join(tmpdir(), 'flants-floor-'));
  try {
    await rgw.createBucket('floor-src');
    await rgw.createBucket('floor-dst');
    const credentials = { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey };
    // The e2e benchmark's file sizes: 50 KB to 2 MB, most near the small end.
    const lib = await writeSyntheticLibrary(
      makeS3Client({ endpoint: rgw.endpoint, region: 'us-east-1', forcePathStyle: true, credentials }),
      'floor-src', 'lib/', { ...o, minBytes: 50_000, maxBytes: 2_000_000, skew: 6 }, 32,
    );
    const keys = lib.files.map((f) => f.key.slice('lib/'.length));
    const serverCpu = () => Object.values(rgw.pids).reduce((n, pid) => n + procStats(pid).cpuSeconds, 0);
    const env = { ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: 'us-east-1' };
    const rclone = rcloneEnv(env, rgw.endpoint, rgw.endpoint, credentials);
    const child = fileURLToPath(new URL('./copy-floor-child.js', import.meta.url));

    const copyOnce = async (variant: FloorVariant, round: number): Promise<{ seconds: number; cpuSeconds: number }> => {
      const prefix = `${variant}${round}/`;
      if (variant === 'rclone') return rcloneCopy(rclone, 'src:floor-src/lib', `dst:floor-dst/${prefix}`, RUN_TIMEOUT_MS);
      const specFile = join(dir, `${prefix.slice(0, -1)}.json`);
      writeFileSync(specFile, JSON.stringify({ mode: variant, endpoint: rgw.endpoint, src: { bucket: 'floor-src', prefix: 'lib/' }, dst: { bucket: 'floor-dst', prefix }, keys }));
      const out = await new Promise<string>((resolve, reject) => {
        const p = spawn(process.execPath, [child, specFile], { env, stdio: ['ignore', 'pipe', 'inherit'], timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' });
        let text = '';
        p.stdout.on('data', (d: Buffer) => (text += d.toString('utf8')));
        p.once('error', reject);
        // 'close', not 'exit': its output is read to the end first.
        p.once('close', (code, signal) => (code === 0 ? resolve(text) : reject(new Error(`copy floor: ${variant} ended with ${signal ?? `code ${code}`}`))));
      });
      const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { files: number; seconds: number; cpuSeconds: number };
      if (r.files !== keys.length) throw new Error(`copy floor: ${variant} streamed ${r.files} of ${keys.length} files`);
      return r;
    };

    const runs: FloorRun[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      // Who goes first rotates: the first meets the server still settling the previous round's writes.
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round - 1) % VARIANTS.length] as FloorVariant);
      for (const variant of order) {
        const server0 = serverCpu();
        const r = await copyOnce(variant, round);
        runs.push({
          round,
          variant,
          filesPerSecond: keys.length / r.seconds,
          cpuMsPerFile: (r.cpuSeconds * 1000) / keys.length,
          serverMsPerFile: ((serverCpu() - server0) * 1000) / keys.length,
        });
      }
    }
    return { files: keys.length, bytes: lib.totalBytes, runs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await rgw.close();
  }
}
