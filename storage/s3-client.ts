/** Builds S3 clients with connection reuse sized for many concurrent transfers. */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/** Where an S3-compatible service is and how to sign for it; credentials default to the SDK chain. */
export interface S3ClientOptions {
  readonly endpoint?: string;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  readonly maxSockets?: number;
}

// The SDK prints "An error was encountered in a non-retryable streaming
// request" to the console for every failed streamed upload unless a logger is
// given. Those failures are already reported per file; this keeps them out of stdout.
const quietSdkLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

const clientAgents = new WeakMap<S3Client, { http: HttpAgent; https: HttpsAgent }>();

/** The keep-alive agents behind a client made here, so direct object calls share its sockets. */
export function agentsOf(client: S3Client): { http: HttpAgent; https: HttpsAgent } | undefined {
  return clientAgents.get(client);
}

/** True when `endpoint` is AWS S3 itself: no endpoint given, or an `amazonaws.com` host. */
export function isAwsEndpoint(endpoint: string | undefined): boolean {
  if (!endpoint) return true;
  try {
    return /(^|\.)amazonaws\.com(\.cn)?$/.test(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

/** Creates an S3 client. Keep-alive matters: a TLS handshake per segment would dominate small copies. */
export function makeS3Client(o: S3ClientOptions): S3Client {
  const maxSockets = o.maxSockets ?? 256;
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets }), https: new HttpsAgent({ keepAlive: true, maxSockets }) };
  const client = new S3Client({
    region: o.region,
    endpoint: o.endpoint,
    forcePathStyle: o.forcePathStyle,
    credentials: o.credentials,
    maxAttempts: 2,
    // The SDK's default CRC32 checksums turn a streamed body (a split file's
    // ranged part, say) into aws-chunked with a trailer. S3-compatible services
    // do not all take that: Ceph's RGW answers 411 MissingContentLength, and
    // s3rver stores the framing as object bytes. Off AWS, flants sends plain
    // bodies with their Content-Length and checks every copy itself (length,
    // and MD5 against the ETags or Content-MD5), which is what those services
    // verify. On AWS the SDK's defaults (or the AWS_* settings) stand.
    ...(isAwsEndpoint(o.endpoint) ? {} : { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }),
    logger: quietSdkLogger,
    requestHandler: new NodeHttpHandler({
      httpAgent: agents.http,
      httpsAgent: agents.https,
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
    }),
  });
  clientAgents.set(client, agents);
  return client;
}
