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

/** Creates an S3 client. Keep-alive matters: a TLS handshake per segment would dominate small copies. */
export function makeS3Client(o: S3ClientOptions): S3Client {
  const maxSockets = o.maxSockets ?? 256;
  return new S3Client({
    region: o.region,
    endpoint: o.endpoint,
    forcePathStyle: o.forcePathStyle,
    credentials: o.credentials,
    maxAttempts: 2,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
    }),
  });
}
