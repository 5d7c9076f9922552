/**
 * Test helpers that start real services: a private nats-server, buckets on the
 * run's Ceph RADOS Gateway (real S3), s3rver endpoints, the local Lambda
 * endpoint, and a whole daemon. Each is disposed with `await using`.
 */
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, ListObjectsCommand, type S3Client } from '@aws-sdk/client-s3';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino, type Logger } from 'pino';
import { inject } from 'vitest';
import { loadConfig, type FlantsConfig } from '../../config/load-config.js';
import { startLocalLambda, type LocalLambda } from '../../lambda/local-endpoint.js';
import { startNatsServer, type NatsServer } from '../../dev/local/nats-server.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from '../../dev/local/s3-server.js';
import { makeS3Client } from '../../storage/s3-client.js';

export const startNats = (): Promise<NatsServer> => startNatsServer();
export const startS3 = (...buckets: string[]): Promise<S3Server> => startS3Server(buckets);

/** A unique, valid name for buckets and namespaces, so that tests never share state. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** The run's Ceph RADOS Gateway: endpoint and its S3 user's keys (started once, in test/helpers/rgw-global.ts). */
export const rgw = (): { endpoint: string; accessKeyId: string; secretAccessKey: string } => inject('rgw');

/**
 * Makes the gateway's user the SDK chain's credentials in this test file's
 * process, and so in the daemon and the Lambda workers it starts (they inherit
 * the environment). Call it at the top of a test file that copies on the gateway.
 */
export function useRgwCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = rgw().accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = rgw().secretAccessKey;
}

/** An S3 client for the RADOS Gateway, with its user's keys or the ones given. */
export function rgwS3(credentials?: { accessKeyId: string; secretAccessKey: string }): S3Client {
  const { endpoint, accessKeyId, secretAccessKey } = rgw();
  return makeS3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: credentials ?? { accessKeyId, secretAccessKey }, maxSockets: 32 });
}

/** A new bucket of its own on the RADOS Gateway, with a client for it. Left in place: the gateway goes at the end of the run. */
export interface RgwBucket {
  readonly name: string;
  readonly endpoint: string;
  readonly s3: S3Client;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Creates a uniquely named bucket on the RADOS Gateway. */
export async function startRgwBucket(prefix = 'b'): Promise<RgwBucket> {
  const s3 = rgwS3();
  const name = uniqueName(prefix);
  await s3.send(new CreateBucketCommand({ Bucket: name }));
  return { name, endpoint: rgw().endpoint, s3, [Symbol.asyncDispose]: async () => s3.destroy() };
}

/** An S3 client for an s3rver endpoint. */
export function s3For(server: S3Server): S3Client {
  return makeS3Client({ endpoint: server.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
}

/** Starts the local Lambda endpoint with a test-sized budget. */
export function startLambda(o: { concurrency?: number; timeoutMs?: number } = {}): Promise<LocalLambda> {
  return startLocalLambda({ concurrency: o.concurrency ?? 32, timeoutMs: o.timeoutMs ?? 60_000, workers: 2 });
}

/** Builds a validated config as the daemon would, from env-style overrides. */
export function testConfig(env: Record<string, string>): FlantsConfig {
  return loadConfig({ FLANTS_NAMESPACE: uniqueName('t').replace('-', '_'), LOG_LEVEL: 'warn', FLANTS_DASHBOARD_PORT: '0', FLANTS_METRICS_PORT: '0', ...env });
}

/** A logger that keeps tests quiet unless FLANTS_TEST_LOG is set. */
export function testLogger(): Logger {
  return pino({ level: process.env.FLANTS_TEST_LOG ?? 'silent' });
}

/** A plain client connection, for publishing triggers and watching outcomes. */
export async function natsClient(url: string): Promise<NatsConnection & AsyncDisposable> {
  const nc = await connect({ servers: url });
  return Object.assign(nc, { [Symbol.asyncDispose]: () => nc.close() });
}

/** Reads a whole object. */
export async function getObject(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

/** Lists every key in a bucket. s3rver can answer 500 to ListObjectsV2 without a prefix, so V1 with Marker. */
export async function listKeys(s3: S3Client, bucket: string): Promise<string[]> {
  const keys: string[] = [];
  let marker: string | undefined;
  for (;;) {
    const out = await s3.send(new ListObjectsCommand({ Bucket: bucket, Marker: marker }));
    const batch = (out.Contents ?? []).map((o) => o.Key as string);
    keys.push(...batch);
    if (!out.IsTruncated || batch.length === 0) return keys;
    marker = batch[batch.length - 1];
  }
}

export { jetstream };
