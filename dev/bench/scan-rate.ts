/**
 * Scans a 100,000-class library index and queues every class on a private
 * nats-server: prints the rate and the peak RSS, to show that a scan streams
 * rather than loading the library into memory.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from '@nats-io/transport-node';
import { loadConfig } from '../../config/load-config.js';
import { runScan } from '../../discovery/run-scan.js';
import { startNatsServer } from '../local/nats-server.js';
import { makeS3Client } from '../../storage/s3-client.js';
import { makeSourceReader } from '../../storage/source-reader.js';
import { SourceRoot } from '../../storage/source-root.js';

/** Runs the scan benchmark; returns its figures. */
export async function scanBenchmark(classes = 100_000): Promise<{ classes: number; seconds: number; perSecond: number; peakRssMb: number; dryRunSeconds: number }> {
  // The index is generated as it is sent, so the origin holds no copy of it either.
  const server = createServer((req, res) => {
    if (req.url !== '/vod/index.txt') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' });
    let i = 0;
    const pump = () => {
      while (i < classes) {
        const line = `class-${String(i++).padStart(6, '0')}/master.m3u8\n`;
        if (!res.write(line)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const nats = await startNatsServer();
  const nc = await connect({ servers: nats.url });
  try {
    const config = loadConfig({
      NATS_URL: nats.url,
      FLANTS_SOURCE: `http://127.0.0.1:${(server.address() as AddressInfo).port}/vod/`,
      FLANTS_DEST: 's3://bench-dest/',
      FLANTS_DEST_ENDPOINT: 'http://127.0.0.1:9',
      FLANTS_RECORDED_MAX_AGE: '1h',
    });
    const root = new SourceRoot(config.source);
    const deps = { config, nc, root, reader: makeSourceReader(root, undefined), dest: makeS3Client(config.destS3) };
    const dry = await runScan(deps, { dryRun: true, force: false });
    const real = await runScan(deps, { dryRun: false, force: false });
    if (real.queued !== classes) throw new Error(`queued ${real.queued} of ${classes}`);
    return {
      classes,
      seconds: real.seconds,
      perSecond: Math.round(classes / real.seconds),
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      dryRunSeconds: dry.seconds,
    };
  } finally {
    await nc.close();
    await nats.close();
    server.close();
  }
}

/** Runs the scan benchmark in a fresh process, so that its peak RSS is the scan's alone. */
export async function scanBenchmarkInChild(classes: number): Promise<Awaited<ReturnType<typeof scanBenchmark>>> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const { fileURLToPath } = await import('node:url');
  const { stdout } = await promisify(execFile)(process.execPath, [fileURLToPath(import.meta.url), String(classes), '--json'], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as Awaited<ReturnType<typeof scanBenchmark>>;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await scanBenchmark(Number(process.argv[2] ?? 100_000));
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else console.log(`scan: ${r.classes} classes queued in ${r.seconds.toFixed(1)} s (${r.perSecond}/s; dry run ${r.dryRunSeconds.toFixed(1)} s), peak RSS ${r.peakRssMb} MB`);
}
