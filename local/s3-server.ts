/**
 * Runs an s3rver instance: the local S3 endpoint for tests and the demo.
 * Its quirks are worked around by callers in test and demo code only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

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
  const close = async () => {
    await server.close();
    rmSync(directory, { recursive: true, force: true });
  };
  return { endpoint: `http://127.0.0.1:${info.port}`, port: info.port, close, [Symbol.asyncDispose]: close };
}
