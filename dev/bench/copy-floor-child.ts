/**
 * One copy of the library in its own process, for the copy-floor benchmark
 * (copy-floor.ts): the process's CPU is the copier's and nothing else's.
 *
 *  - `raw`: each file's GET piped into its PUT with flants' object calls
 *    (storage/object-http.ts), 64 at once: two signed Node HTTP requests and
 *    the bytes, and nothing more.
 *  - `handler`: the transfer Lambda's handler called in this process, two
 *    waves of 32 at once, as the dispatcher sends them.
 *  - `endpoint`: the same waves through the local Lambda endpoint (2 worker
 *    threads), invoked as the dispatcher invokes them.
 *
 * Prints one JSON line: { files (those it streamed), seconds, cpuSeconds }.
 */
import { readFileSync } from 'node:fs';
import { handleWave } from '../../lambda/transfer-handler.js';
import { invokeWave, makeLambdaClient } from '../../lambda/invoke-wave.js';
import { startLocalLambda } from '../../lambda/local-endpoint.js';
import type { WaveRequest, WaveResponse } from '../../lambda/wave.js';
import { objectIo } from '../../storage/object-http.js';
import { makeS3Client } from '../../storage/s3-client.js';

interface ChildSpec {
  readonly mode: 'raw' | 'handler' | 'endpoint';
  readonly endpoint: string;
  readonly src: { bucket: string; prefix: string };
  readonly dst: { bucket: string; prefix: string };
  readonly keys: readonly string[];
}

const WAVE = 32;
const WAVES_AT_ONCE = 2;

async function main(): Promise<void> {
  // The spec comes in a file: thousands of keys do not fit one argument (128 KiB on Linux).
  const spec = JSON.parse(readFileSync(process.argv[2] ?? '', 'utf8')) as ChildSpec;
  const region = 'us-east-1';
  const local = spec.mode === 'endpoint' ? await startLocalLambda({ concurrency: 64, timeoutMs: 300_000, workers: WAVES_AT_ONCE }) : undefined;
  const lambda = local ? makeLambdaClient({ functionName: 'local', endpoint: local.url, region, local: true }) : undefined;
  // The warm workers load their modules after the endpoint answers (about 1.2 CPU-s): not the copy's cost,
  // as the e2e benchmark leaves it out too. Counting starts once 250 ms pass with under 10 ms of CPU.
  if (local) {
    for (let quiet = false; !quiet; ) {
      const before = process.cpuUsage();
      await new Promise((r) => setTimeout(r, 250));
      const used = process.cpuUsage(before);
      quiet = used.user + used.system < 10_000;
    }
  }
  let copied = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  if (spec.mode === 'raw') {
    const client = makeS3Client({ endpoint: spec.endpoint, region, forcePathStyle: true });
    const io = objectIo(client);
    let next = 0;
    await Promise.all(
      Array.from({ length: WAVE * WAVES_AT_ONCE }, async () => {
        for (let i = next++; i < spec.keys.length; i = next++) {
          const key = spec.keys[i] as string;
          const got = await io.get(spec.src.bucket, spec.src.prefix + key);
          await io.put(spec.dst.bucket, spec.dst.prefix + key, got.body, { length: got.length ?? 0, contentMd5: undefined });
          copied++;
        }
      }),
    );
  } else {
    const waves: string[][] = [];
    for (let i = 0; i < spec.keys.length; i += WAVE) waves.push(spec.keys.slice(i, i + WAVE));
    const at = (bucket: string, prefix: string) => ({ location: { kind: 's3' as const, bucket, prefix }, endpoint: spec.endpoint, region, forcePathStyle: true });
    const send = async (req: WaveRequest): Promise<WaveResponse> => {
      if (!lambda) return handleWave(req, { getRemainingTimeInMillis: () => 300_000 });
      return invokeWave(lambda, 'local', req);
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: WAVES_AT_ONCE }, async () => {
        for (let w = next++; w < waves.length; w = next++) {
          const res = await send({
            source: at(spec.src.bucket, spec.src.prefix),
            dest: at(spec.dst.bucket, spec.dst.prefix),
            jobs: (waves[w] as string[]).map((k) => ({ src: k, key: k })),
            // As the dispatcher's defaults send them, streaming (the e2e benchmark gives the source its own keys).
            options: { multipartThreshold: 64 << 20, partSize: 16 << 20, fileConcurrency: WAVE, stallTimeoutMs: 30_000, skipIdentical: true, serverSideCopy: false },
          });
          const failed = res.results.find((r) => !r.ok);
          if (failed) throw new Error(`copy floor: a file failed: ${failed.error}`);
          copied += res.results.filter((r) => r.ok && r.method === 'stream' && !r.unchanged).length;
        }
      }),
    );
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await local?.close();
  process.stdout.write(`${JSON.stringify({ files: copied, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, userSeconds: cpu.user / 1e6 })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
