/**
 * The dispatcher's side of the Lambda contract: always @aws-sdk/client-lambda
 * Invoke, against AWS or the project's local Lambda-API endpoint.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { RetryableError } from '../storage/errors.js';
import type { FlantsConfig } from '../config/load-config.js';
import type { WaveRequest, WaveResponse } from './wave.js';

/** The source and destination half of a wave request, as configuration describes them (never credentials). */
export function waveEnds(config: FlantsConfig): Pick<WaveRequest, 'source' | 'dest'> {
  return {
    source: {
      location: config.source,
      allow: config.sourceAllow,
      endpoint: config.sourceS3.endpoint,
      region: config.sourceS3.region,
      forcePathStyle: config.sourceS3.forcePathStyle,
    },
    dest: { location: config.dest, endpoint: config.destS3.endpoint, region: config.destS3.region, forcePathStyle: config.destS3.forcePathStyle },
  };
}

/** How to reach the function. */
export interface LambdaTarget {
  readonly functionName: string;
  readonly endpoint?: string;
  readonly region: string;
  /** The local endpoint does not check signatures, but the SDK must still sign. */
  readonly local: boolean;
}

/** Creates a Lambda client sized for many concurrent waves. */
export function makeLambdaClient(t: LambdaTarget, maxSockets = 1024): LambdaClient {
  return new LambdaClient({
    region: t.region,
    endpoint: t.endpoint,
    credentials: t.local ? { accessKeyId: 'flants-local', secretAccessKey: 'flants-local' } : undefined,
    // One retry for transient network faults; throttling surfaces to the
    // dispatcher's adaptive limit, which slows every wave down, not just this one.
    retryMode: 'standard',
    maxAttempts: 2,
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      // A wave may legitimately run for the function's whole timeout (15 min on AWS).
      requestTimeout: 16 * 60_000,
    }),
  });
}

/** Invokes the function with one wave. A function error or a bad payload is retryable for every job. */
export async function invokeWave(client: LambdaClient, functionName: string, req: WaveRequest, signal?: AbortSignal): Promise<WaveResponse> {
  const out = await client.send(
    new InvokeCommand({ FunctionName: functionName, Payload: Buffer.from(JSON.stringify(req)) }),
    { abortSignal: signal },
  );
  const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
  if (out.FunctionError) {
    throw new RetryableError(`Lambda function error (${out.FunctionError}): ${text.slice(0, 500)}`);
  }
  let res: WaveResponse;
  try {
    res = JSON.parse(text) as WaveResponse;
  } catch {
    throw new RetryableError(`Lambda returned a payload that is not JSON: ${text.slice(0, 200)}`);
  }
  if (!Array.isArray(res.results) || res.results.length !== req.jobs.length) {
    throw new RetryableError(`Lambda returned ${res.results?.length ?? 'no'} results for ${req.jobs.length} jobs`);
  }
  return res;
}
