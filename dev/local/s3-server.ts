/**
 * Runs an s3rver instance: the local S3 endpoint for tests and the demo.
 * Its quirks are worked around by callers in test and demo code only.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { distFile } from '../../config/dist-path.js';

/** A running local S3 endpoint. */
export interface S3Server {
  readonly endpoint: string;
  readonly port: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** s3rver accepts any signature but the SDK must sign with something. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Starts s3rver on a free port with `buckets` created. */
export async function startS3Server(buckets: readonly string[]): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), 'flants-s3-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  const info = (await server.run()) as { port: number };
  // In-process: its folder goes with the process even when an exit skips close() (a second Ctrl-C).
  const onExit = () => rmSync(directory, { recursive: true, force: true });
  process.on('exit', onExit);
  const close = async () => {
    await server.close();
    onExit();
    process.off('exit', onExit);
  };
  return { endpoint: `http://127.0.0.1:${info.port}`, port: info.port, close, [Symbol.asyncDispose]: close };
}

/** An s3rver in a child process (benchmarks): its own event loop, and a pid to measure. */
export interface S3ServerProcess extends S3Server {
  readonly pid: number;
}

/** Starts s3rver in a child process with `buckets` created. */
export async function startS3ServerProcess(buckets: readonly string[]): Promise<S3ServerProcess> {
  const child = spawn(process.execPath, [fileURLToPath(distFile(import.meta.url, 's3-server-main.js')), ...buckets], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`s3rver process exited with ${code} before it listened`)));
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  const close = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  return { endpoint: `http://127.0.0.1:${port}`, port, pid: child.pid as number, close, [Symbol.asyncDispose]: close };
}
