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
import type { ClassTransferred } from '../../streams/messages.js';

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

/** A daemon's config for an HTTP origin under `/vod/`, an s3rver destination bucket and the local Lambda, plus `extra`. */
export function pipelineConfig(
  parts: { nats: { url: string }; origin: { url: string }; dest: S3Server; lambda?: { url: string }; bucket?: string },
  extra: Record<string, string> = {},
): FlantsConfig {
  return testConfig({
    NATS_URL: parts.nats.url,
    FLANTS_SOURCE: `${parts.origin.url}/vod/`,
    FLANTS_DEST: `s3://${parts.bucket ?? 'dest-bucket'}/`,
    FLANTS_DEST_ENDPOINT: parts.dest.endpoint,
    ...(parts.lambda ? { FLANTS_LAMBDA_ENDPOINT: parts.lambda.url } : {}),
    ...extra,
  });
}

/** Every `class.transferred` on a subject, by class, with a wait for the n-th outcome of a class. */
export interface Outcomes {
  readonly byClass: Map<string, ClassTransferred[]>;
  /** Resolves with the class's outcomes once there are `n`; throws after `timeoutMs`. */
  of(classId: string, n?: number, timeoutMs?: number): Promise<ClassTransferred[]>;
  stop(): void;
}

/** Collects the outcomes published on `subject` (a topology's `subjects.transferred`). */
export function watchOutcomes(nc: NatsConnection, subject: string): Outcomes {
  const byClass = new Map<string, ClassTransferred[]>();
  const sub = nc.subscribe(subject, {
    callback: (_err, m) => {
      const e = m.json<ClassTransferred>();
      byClass.set(e.classId, [...(byClass.get(e.classId) ?? []), e]);
    },
  });
  return {
    byClass,
    of: async (classId, n = 1, timeoutMs = 60_000) => {
      for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
        const got = byClass.get(classId) ?? [];
        if (got.length >= n) return got;
      }
      throw new Error(`fewer than ${n} class.transferred for ${classId} within ${timeoutMs} ms`);
    },
    stop: () => sub.unsubscribe(),
  };
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
