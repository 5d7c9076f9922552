/**
 * The transfer Lambda behind the local Lambda-API endpoint, called through the
 * real @aws-sdk/client-lambda: results aligned per job, a time budget that
 * hands unstarted files back as retryable, unsafe keys refused, and 429s past
 * the concurrency limit, as AWS answers them.
 */
import { InvokeCommand, LambdaClient, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../dev/local/free-port.js';
import { invokeWave } from '../lambda/invoke-wave.js';
import { startLocalLambda, type LocalLambda } from '../lambda/local-endpoint.js';
import type { WaveRequest } from '../lambda/wave.js';
import type { S3Server } from '../dev/local/s3-server.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { getObject, s3For, startS3 } from './helpers/services.js';

const client = (url: string) =>
  new LambdaClient({ endpoint: url, region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });

describe('lambda - transfer handler via the local Lambda API', () => {
  let origin: Origin;
  let dst: S3Server;
  let request: (jobs: WaveRequest['jobs']) => WaveRequest;

  beforeAll(async () => {
    dst = await startS3('dest-bucket');
    origin = await startOrigin({ '/vod/a.ts': 'A'.repeat(5000), '/vod/b.ts': 'B'.repeat(10), '/vod/slow.ts': 'slow' });
    origin.delays.set('/vod/slow.ts', 1_500);
    request = (jobs) => ({
      source: { location: { kind: 'http', root: `${origin.url}/vod/` }, region: 'us-east-1', forcePathStyle: true },
      dest: { location: { kind: 's3', bucket: 'dest-bucket', prefix: 'out/' }, endpoint: dst.endpoint, region: 'us-east-1', forcePathStyle: true },
      jobs,
      options: { multipartThreshold: 64 << 20, partSize: 16 << 20, fileConcurrency: 4, stallTimeoutMs: 10_000 },
    });
  });

  afterAll(async () => {
    await origin?.close();
    await dst?.close();
  });

  it('lambda - returns one result per job, aligned, and one bad file never fails the wave', async () => {
    await using local = await startLocalLambda({ concurrency: 4, timeoutMs: 60_000, workers: 1 });
    const res = await invokeWave(client(local.url), 'flants', request([
      { src: 'a.ts', key: 'a.ts' },
      { src: 'missing.ts', key: 'missing.ts' },
      { src: 'b.ts', key: '../../escape.ts' },
      { src: 'http://evil.example.com/x.ts', key: 'x.ts' },
      { src: 'b.ts', key: 'b.ts' },
    ]));
    expect(res.results.map((r) => r.ok)).toEqual([true, false, false, false, true]);
    expect(res.results[0]).toMatchObject({ ok: true, bytes: 5000 });
    expect(res.results[1]).toMatchObject({ retryable: false, error: expect.stringMatching(/HTTP 404/) });
    expect(res.results[2]).toMatchObject({ retryable: false, error: expect.stringMatching(/not a safe relative key/) });
    expect(res.results[3]).toMatchObject({ retryable: false, error: expect.stringMatching(/not the source host/) });
    expect(origin.requests.some((r) => r.includes('x.ts'))).toBe(false);
    expect((await getObject(s3For(dst), 'dest-bucket', 'out/a.ts')).toString()).toBe('A'.repeat(5000));
  });

  it('lambda - stops starting files when its time budget runs low and returns them retryable', async () => {
    // A 4 s budget is inside the handler's 5 s start reserve: nothing may start.
    await using local = await startLocalLambda({ concurrency: 4, timeoutMs: 4_000, workers: 1 });
    const res = await invokeWave(client(local.url), 'flants', request([{ src: 'a.ts', key: 'budget/a.ts' }, { src: 'b.ts', key: 'budget/b.ts' }]));
    expect(res.results).toEqual([
      expect.objectContaining({ ok: false, retryable: true, error: 'time budget exhausted before start' }),
      expect.objectContaining({ ok: false, retryable: true, error: 'time budget exhausted before start' }),
    ]);
  });

  it('lambda - answers TooManyRequestsException past its concurrency limit', async () => {
    await using local = await startLocalLambda({ concurrency: 1, timeoutMs: 60_000, workers: 1 });
    const c = client(local.url);
    const slow = invokeWave(c, 'flants', request([{ src: 'slow.ts', key: 'slow.ts' }]));
    await new Promise((r) => setTimeout(r, 300));
    const refused = c.send(new InvokeCommand({ FunctionName: 'flants', Payload: Buffer.from(JSON.stringify(request([]))) }));
    await expect(refused).rejects.toBeInstanceOf(TooManyRequestsException);
    expect((await slow).results[0]).toMatchObject({ ok: true, bytes: 4 });
    expect(local.stats()).toMatchObject({ throttled: 1, peak: 1 });
  });

  it.each([[[]], [['--noop']]])('lambda - flants lambda-local %o answers a malformed payload with a FunctionError naming the problem, and keeps serving', async (mode) => {
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/cli.js', 'lambda-local', '--port', String(port), ...mode], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => /listening/.test(line) && resolve());
        child.once('exit', (code) => reject(new Error(`lambda-local exited with ${code}`)));
      });
      const c = client(`http://127.0.0.1:${port}`);
      const invoke = async (payload: string) => {
        const out = await c.send(new InvokeCommand({ FunctionName: 'flants', Payload: Buffer.from(payload) }));
        return { functionError: out.FunctionError, body: JSON.parse(Buffer.from(out.Payload ?? []).toString()) as unknown };
      };

      const empty = await invoke('{}');
      expect(empty.functionError).toBe('Unhandled');
      expect(empty.body).toEqual({
        errorType: 'InvalidWaveRequest',
        errorMessage: expect.stringMatching(/^the invocation payload is not a flants wave request: source: .+; dest: .+; jobs: .+; options: .+ \(send \{source, dest, jobs, options\} as the dispatcher does; see lambda\/wave\.ts\)$/),
      });
      expect(JSON.stringify(empty.body)).not.toMatch(/TypeError|Cannot read properties/);
      // A field deep inside is named by its path.
      const wrongType = await invoke(JSON.stringify({ ...request([{ src: 'a.ts', key: 'a.ts' }]), options: { ...request([]).options, fileConcurrency: 'four' } }));
      expect(wrongType).toEqual({ functionError: 'Unhandled', body: { errorType: 'InvalidWaveRequest', errorMessage: expect.stringMatching(/: options\.fileConcurrency: /) } });
      expect((await invoke('null')).body).toMatchObject({ errorType: 'InvalidWaveRequest', errorMessage: expect.stringMatching(/: payload: /) });
      // A body that is not JSON at all is refused as AWS refuses it, before any function runs.
      await expect(c.send(new InvokeCommand({ FunctionName: 'flants', Payload: Buffer.from('not json') }))).rejects.toMatchObject({
        name: 'InvalidRequestContentException',
        message: expect.stringMatching(/^Could not parse request body into json: /),
      });

      // The same process still serves a real wave.
      const res = await invokeWave(c, 'flants', request([{ src: 'b.ts', key: `after-bad-payloads${mode.join('')}/b.ts` }]));
      expect(res.results[0]).toMatchObject({ ok: true });
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
