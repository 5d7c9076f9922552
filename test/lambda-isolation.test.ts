/**
 * Isolation in the local Lambda endpoint, through the real
 * @aws-sdk/client-lambda: a file's failure is only that file's result, stray
 * async errors end neither the invocation nor its worker, a crashing or
 * overrunning invocation ends alone, and the endpoint keeps serving.
 */
import { fileURLToPath } from 'node:url';
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invokeWave, makeLambdaClient } from '../lambda/invoke-wave.js';
import { startLocalLambda } from '../lambda/local-endpoint.js';
import type { WaveOptions, WaveRequest } from '../lambda/wave.js';
import type { S3Server } from '../dev/local/s3-server.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { getObject, s3For, startS3, uniqueName } from './helpers/services.js';

const faultHandler = fileURLToPath(new URL('./helpers/fault-handler.mjs', import.meta.url));
const lambdaAt = (url: string): LambdaClient => makeLambdaClient({ functionName: 'flants', endpoint: url, region: 'us-east-1', local: true });

/** Sends one wave as it is and returns the raw answer, function errors included. */
async function invokeRaw(client: LambdaClient, req: WaveRequest, timeoutMs = 30_000): Promise<{ functionError?: string; body: unknown }> {
  const out = await client.send(new InvokeCommand({ FunctionName: 'flants', Payload: Buffer.from(JSON.stringify(req)) }), {
    abortSignal: AbortSignal.timeout(timeoutMs),
  });
  return { functionError: out.FunctionError, body: JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8')) };
}

describe('lambda - isolation in the local endpoint', () => {
  let origin: Origin;
  let dst: S3Server;
  // Between the handler and the servers: resets, bodies cut short, dropped uploads.
  let originProxy: FaultProxy;
  let dstProxy: FaultProxy;
  const bucket = uniqueName('isolation');
  const big = Buffer.alloc(400_000, 'b');

  const wave = (jobs: WaveRequest['jobs'], options: Partial<WaveOptions> = {}): WaveRequest => ({
    source: { location: { kind: 'http', root: `${originProxy.url}/vod/` }, region: 'us-east-1', forcePathStyle: true },
    dest: { location: { kind: 's3', bucket, prefix: 'out/' }, endpoint: dstProxy.url, region: 'us-east-1', forcePathStyle: true },
    jobs,
    options: { multipartThreshold: 64 << 20, partSize: 5 << 20, fileConcurrency: 4, stallTimeoutMs: 5_000, ...options },
  });

  beforeAll(async () => {
    dst = await startS3(bucket);
    origin = await startOrigin({
      '/vod/a.ts': 'A'.repeat(5000),
      '/vod/slow.ts': 'S'.repeat(100),
      '/vod/cut.ts': big,
      '/vod/big-cut.ts': big,
      '/vod/b.ts': 'B'.repeat(300),
    });
    origin.delays.set('/vod/slow.ts', 800);
    originProxy = await startFaultProxy(origin.url, (req) => (req.url?.includes('cut') ? 'reset-mid-body' : undefined));
    dstProxy = await startFaultProxy(dst.endpoint, (req) => {
      const url = new URL(req.url ?? '/', 'http://s3');
      // Listings fail, so that every file's destination check is a HEAD.
      if (req.method === 'GET' && url.searchParams.has('list-type')) return 'reset';
      if (req.method === 'HEAD' && url.pathname.includes('head-reset')) return 'reset';
      if (req.method === 'PUT' && url.pathname.includes('drop')) return 'drop-upload';
      return undefined;
    });
  });

  afterAll(async () => {
    await originProxy?.close();
    await dstProxy?.close();
    await origin?.close();
    await dst?.close();
  });

  it('lambda - a destination check that fails before the source answers costs only that file', async () => {
    await using local = await startLocalLambda({ concurrency: 4, timeoutMs: 60_000, workers: 1 });
    const res = await invokeWave(lambdaAt(local.url), 'flants', wave(
      [
        { src: 'a.ts', key: 'head/a.ts' },
        { src: 'slow.ts', key: 'head/head-reset/slow.ts' },
      ],
      { skipIdentical: true },
    ));
    expect(res.results[0]).toMatchObject({ ok: true, bytes: 5000 });
    expect(res.results[1]).toMatchObject({ ok: false, retryable: true });
    expect((await getObject(s3For(dst), bucket, 'out/head/a.ts')).toString()).toBe('A'.repeat(5000));
    // The failed check was an ordinary result, not a stray error that cost the worker.
    expect(local.stats()).toMatchObject({ recycled: 0 });
  });

  it('lambda - sources reset mid-body and a dropped upload fail only their own files', async () => {
    await using local = await startLocalLambda({ concurrency: 4, timeoutMs: 60_000, workers: 1 });
    const res = await invokeWave(lambdaAt(local.url), 'flants', wave(
      [
        { src: 'a.ts', key: 'resets/a.ts' },
        { src: 'cut.ts', key: 'resets/cut.ts' },
        { src: 'big-cut.ts', key: 'resets/big-cut.ts' },
        { src: 'b.ts', key: 'resets/drop/b.ts' },
        { src: 'b.ts', key: 'resets/b.ts' },
      ],
      // big-cut.ts goes multipart, cut.ts as one PUT.
      { multipartThreshold: 200_000 },
    ));
    expect(res.results.map((r) => r.ok)).toEqual([true, false, false, false, true]);
    expect(res.results.filter((r) => !r.ok).every((r) => r.retryable)).toBe(true);
    expect(originProxy.injected.filter((f) => f.includes('cut'))).toHaveLength(2);
    expect(local.stats()).toMatchObject({ recycled: 0 });
  });

  it('lambda - a worker crash ends only its own invocation and the endpoint keeps serving', async () => {
    await using local = await startLocalLambda({ concurrency: 4, timeoutMs: 60_000, workers: 1, handlerModule: faultHandler });
    const client = lambdaAt(local.url);
    // A runs real copies (one of them slow) while B's runtime dies.
    const a = invokeWave(client, 'flants', wave([{ src: 'a.ts', key: 'crash/a.ts' }, { src: 'slow.ts', key: 'crash/slow.ts' }]));
    a.catch(() => undefined); // awaited below, after B
    await new Promise((r) => setTimeout(r, 100));
    const b = await invokeRaw(client, wave([{ src: 'b.ts', key: 'crash/fault-exit/b.ts' }]));
    expect(b.functionError).toBe('Unhandled');
    expect(b.body).toMatchObject({ errorType: 'Runtime.ExitError', errorMessage: expect.stringMatching(/exit status 1/) });
    expect((await a).results).toEqual([expect.objectContaining({ ok: true, bytes: 5000 }), expect.objectContaining({ ok: true, bytes: 100 })]);
    const c = await invokeWave(client, 'flants', wave([{ src: 'b.ts', key: 'crash/after.ts' }]));
    expect(c.results[0]).toMatchObject({ ok: true, bytes: 300 });
    expect(local.stats()).toMatchObject({ recycled: 1, inFlight: 0 });
  });

  it('lambda - stray async errors end neither the invocation nor a concurrent one', async () => {
    await using local = await startLocalLambda({ concurrency: 4, timeoutMs: 60_000, workers: 1, handlerModule: faultHandler });
    const client = lambdaAt(local.url);
    const [stray, other] = await Promise.all([
      invokeWave(client, 'flants', wave([{ src: 'slow.ts', key: 'stray/fault-stray/slow.ts' }, { src: 'a.ts', key: 'stray/fault-stray/a.ts' }])),
      invokeWave(client, 'flants', wave([{ src: 'slow.ts', key: 'stray/other/slow.ts' }])),
    ]);
    expect(stray.results.map((r) => r.ok)).toEqual([true, true]);
    expect(other.results[0]).toMatchObject({ ok: true, bytes: 100 });
    // The worker that saw the stray errors is replaced once its invocation is over.
    await new Promise((r) => setTimeout(r, 200));
    expect(local.stats().recycled).toBe(1);
    const again = await invokeWave(client, 'flants', wave([{ src: 'a.ts', key: 'stray/again.ts' }]));
    expect(again.results[0]).toMatchObject({ ok: true, bytes: 5000 });
  });

  it('lambda - an invocation past its timeout answers Task timed out and frees its place', async () => {
    await using local = await startLocalLambda({ concurrency: 1, timeoutMs: 1_500, workers: 1, handlerModule: faultHandler });
    const client = lambdaAt(local.url);
    const started = Date.now();
    const hung = await invokeRaw(client, wave([{ src: 'a.ts', key: 'timeout/fault-hang/a.ts' }]), 10_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(hung.functionError).toBe('Unhandled');
    expect(hung.body).toMatchObject({ errorType: 'Sandbox.Timedout', errorMessage: expect.stringMatching(/Task timed out after 1\.50 seconds/) });
    // The one place is free again: a 1.5 s budget is inside the handler's start reserve, so nothing starts.
    const next = await invokeWave(client, 'flants', wave([{ src: 'a.ts', key: 'timeout/a.ts' }]));
    expect(next.results[0]).toMatchObject({ ok: false, retryable: true, error: 'time budget exhausted before start' });
    expect(local.stats()).toMatchObject({ recycled: 1, throttled: 0 });
  });
});
