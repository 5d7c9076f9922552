/**
 * Lambda's 6 MB request and response limits hold by construction: a wave
 * too large either way is split in halves, results come back in job order,
 * and only a job too large on its own fails, permanently.
 */
import { fileURLToPath } from 'node:url';
import { InvokeCommand, RequestTooLargeException } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { invokeWave, makeLambdaClient } from '../lambda/invoke-wave.js';
import { startLocalLambda } from '../lambda/local-endpoint.js';
import type { WaveRequest } from '../lambda/wave.js';

const echoHandler = fileURLToPath(new URL('./helpers/echo-handler.mjs', import.meta.url));
const MB = 1024 * 1024;

const wave = (jobs: WaveRequest['jobs']): WaveRequest => ({
  source: { location: { kind: 'http', root: 'http://127.0.0.1:9/vod/' }, region: 'us-east-1', forcePathStyle: true },
  dest: { location: { kind: 's3', bucket: 'unused', prefix: 'out/' }, region: 'us-east-1', forcePathStyle: true },
  jobs,
  options: { multipartThreshold: 64 << 20, partSize: 16 << 20, fileConcurrency: 4, stallTimeoutMs: 5_000 },
});

const startEcho = () => startLocalLambda({ concurrency: 4, timeoutMs: 60_000, workers: 1, handlerModule: echoHandler });
const clientFor = (url: string) => makeLambdaClient({ functionName: 'flants', endpoint: url, region: 'us-east-1', local: true });

describe('invoke-wave - Lambda payload limits', () => {
  it('invoke-wave - the endpoint refuses a request over 6 MB with RequestTooLargeException', async () => {
    await using local = await startEcho();
    const payload = Buffer.from(JSON.stringify(wave([{ src: 'x'.repeat(7 * MB), key: 'k' }])));
    const sent = clientFor(local.url).send(new InvokeCommand({ FunctionName: 'flants', Payload: payload }));
    await expect(sent).rejects.toBeInstanceOf(RequestTooLargeException);
  });

  it('invoke-wave - splits a request over 6 MB into halves and keeps results in job order', async () => {
    await using local = await startEcho();
    // About 9 MB of jobs: two halves of 4.5 MB each.
    const jobs = Array.from({ length: 2_000 }, (_, i) => ({ src: `${'s'.repeat(4_500)}${i}.ts`, key: `k${i}` }));
    const res = await invokeWave(clientFor(local.url), 'flants', wave(jobs));
    expect(res.results.map((r) => r.etag)).toEqual(jobs.map((j) => j.key));
    expect(local.stats().invocations).toBe(2);
  });

  it('invoke-wave - splits a wave whose response would exceed 6 MB', async () => {
    await using local = await startEcho();
    const jobs = Array.from({ length: 8 }, (_, i) => ({ src: `${i}.ts`, key: `k${i}-pad-${MB}` }));
    const res = await invokeWave(clientFor(local.url), 'flants', wave(jobs));
    expect(res.results.map((r) => r.etag)).toEqual(jobs.map((j) => j.key));
    expect(res.results.every((r) => r.ok && r.skipped?.length === MB)).toBe(true);
    // One refused invocation, then two halves of about 4 MB.
    expect(local.stats().invocations).toBe(3);
  });

  it('invoke-wave - a job too large on its own fails permanently and alone', async () => {
    await using local = await startEcho();
    const jobs = [
      { src: 'a.ts', key: 'a' },
      { src: 'x'.repeat(7 * MB), key: 'huge-request' },
      { src: 'b.ts', key: 'b' },
      { src: 'c.ts', key: `huge-response-pad-${7 * MB}` },
      { src: 'd.ts', key: 'd' },
    ];
    const res = await invokeWave(clientFor(local.url), 'flants', wave(jobs));
    expect(res.results.map((r) => r.ok)).toEqual([true, false, true, false, true]);
    expect(res.results.map((r) => r.etag)).toEqual(['a', undefined, 'b', undefined, 'd']);
    for (const i of [1, 3]) {
      expect(res.results[i]).toMatchObject({ ok: false, retryable: false, error: expect.stringMatching(/6 MB/) });
    }
    expect(res.results[1]?.error).toMatch(/request/);
    expect(res.results[3]?.error).toMatch(/response/);
  });
});
