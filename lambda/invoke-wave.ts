/**
 * The dispatcher's side of the Lambda contract: always @aws-sdk/client-lambda
 * Invoke, against AWS or the project's local Lambda-API endpoint.
 */
import { InvokeCommand, LambdaClient, type InvokeCommandOutput } from '@aws-sdk/client-lambda';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { RetryableError } from '../storage/errors.js';
import type { FlantsConfig } from '../config/load-config.js';
import type { JobResult, WaveRequest, WaveResponse } from './wave.js';

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

/** Lambda's synchronous invocation limit, for the request and for the response (6 MB each). */
export const MAX_INVOKE_PAYLOAD = 6 * 1024 * 1024;

/** Which of the two payload limits an invocation broke. */
type TooLarge = 'request' | 'response';

/** True when Lambda refused the request for its size (413). */
function isRequestTooLarge(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'RequestTooLargeException' || e?.name === 'RequestEntityTooLargeException' || e?.$metadata?.httpStatusCode === 413;
}

/** A job that breaks a limit even alone: retrying it can never help. */
function tooLargeResult(which: TooLarge, bytes?: number): JobResult {
  const what = which === 'request' ? `its request${bytes === undefined ? '' : ` (${bytes} bytes)`}` : 'its result';
  return {
    ok: false,
    bytes: 0,
    ms: 0,
    retryable: false,
    error: `the job is too large for one Lambda invocation: ${what} exceeds the 6 MB (${MAX_INVOKE_PAYLOAD}-byte) ${which} payload limit`,
  };
}

/** One Invoke; a payload over either limit comes back as the limit it broke, not as an error. */
async function invokeOnce(client: LambdaClient, functionName: string, req: WaveRequest, payload: Buffer, signal?: AbortSignal): Promise<JobResult[] | TooLarge> {
  let out: InvokeCommandOutput;
  try {
    out = await client.send(new InvokeCommand({ FunctionName: functionName, Payload: payload }), { abortSignal: signal });
  } catch (err) {
    if (isRequestTooLarge(err)) return 'request';
    throw err;
  }
  // A view of the payload, not a copy (one per wave adds up at 100 waves a second).
  const text = out.Payload ? Buffer.from(out.Payload.buffer, out.Payload.byteOffset, out.Payload.byteLength).toString('utf8') : '';
  if (out.FunctionError) {
    // AWS: {"errorType":"Function.ResponseSizeTooLarge", ...}; the function ran, but its answer is lost.
    if (text.includes('ResponseSizeTooLarge')) return 'response';
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
  return res.results;
}

/**
 * Invokes `req`, splitting it in halves (recursively, one half after the
 * other) while its request or its response breaks a payload limit.
 */
async function invokeWithin(client: LambdaClient, functionName: string, req: WaveRequest, signal?: AbortSignal): Promise<JobResult[]> {
  const payload = Buffer.from(JSON.stringify(req));
  const outcome = payload.length > MAX_INVOKE_PAYLOAD ? 'request' : await invokeOnce(client, functionName, req, payload, signal);
  if (typeof outcome !== 'string') return outcome;
  if (req.jobs.length <= 1) {
    return req.jobs.map(() => tooLargeResult(outcome, outcome === 'request' ? payload.length : undefined));
  }
  const mid = Math.ceil(req.jobs.length / 2);
  const first = await invokeWithin(client, functionName, { ...req, jobs: req.jobs.slice(0, mid) }, signal);
  const second = await invokeWithin(client, functionName, { ...req, jobs: req.jobs.slice(mid) }, signal);
  return [...first, ...second];
}

/**
 * Invokes the function with one wave and returns one result per job, in job
 * order. A wave whose request or response would break Lambda's 6 MB limits is
 * sent in halves, so that only a job too large on its own fails (permanently).
 * Any other function error, or a bad payload, is retryable for every job.
 */
export async function invokeWave(client: LambdaClient, functionName: string, req: WaveRequest, signal?: AbortSignal): Promise<WaveResponse> {
  return { results: await invokeWithin(client, functionName, req, signal) };
}
