/**
 * `flants trigger --wait`, `flants status --failed` and `flants doctor` against
 * a real daemon: nats-server, an HTTP origin, an S3 endpoint and the local
 * Lambda. The CLI runs as users run it, from dist/cli.js.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import { S3RVER_CREDENTIALS, type S3Server } from '../dev/local/s3-server.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { ClassTransferred } from '../streams/messages.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startLambda, startNats, startS3, testConfig, testLogger, uniqueName } from './helpers/services.js';

interface Result { code: number; stdout: string; stderr: string }

function flants(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['dist/cli.js', ...args], { env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...env }, timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const media = (names: string[]) => ['#EXTM3U', '#EXT-X-TARGETDURATION:2', ...names.flatMap((n) => ['#EXTINF:2,', n]), '#EXT-X-ENDLIST', ''].join('\n');

describe('cli - trigger --wait, status and doctor on a running daemon', () => {
  let nats: NatsServer;
  let dst: S3Server;
  let lambda: LocalLambda;
  let origin: Origin;
  let daemon: Daemon;
  let env: Record<string, string>;

  beforeAll(async () => {
    [nats, dst, lambda] = await Promise.all([startNats(), startS3('dest-bucket'), startLambda()]);
    origin = await startOrigin({
      '/vod/good/master.m3u8': media(['a.ts', 'b.ts']),
      '/vod/good/a.ts': 'A'.repeat(2_000),
      '/vod/good/b.ts': 'B'.repeat(3_000),
      '/vod/bad/master.m3u8': media(['a.ts', 'missing.ts']),
      '/vod/bad/a.ts': 'a',
    });
    const vars = {
      NATS_URL: nats.url,
      FLANTS_SOURCE: `${origin.url}/vod/`,
      FLANTS_DEST: 's3://dest-bucket/mirror/',
      FLANTS_DEST_ENDPOINT: dst.endpoint,
      FLANTS_LAMBDA_ENDPOINT: lambda.url,
      FLANTS_RETRY_BACKOFF: '50ms',
      FLANTS_BATCH_WAIT: '50ms',
      FLANTS_MAX_ATTEMPTS: '2',
    };
    const config = testConfig(vars);
    // The child commands get the same settings through a config file, AWS credentials included.
    const file = join(mkdtempSync(join(tmpdir(), 'flants-run-')), 'flants.env');
    writeFileSync(file, Object.entries({ ...vars, FLANTS_NAMESPACE: config.namespace, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' }).map(([k, v]) => `${k}=${v}`).join('\n'));
    env = { FLANTS_CONFIG_FILE: file };
    daemon = await startDaemon({ config, logger: testLogger() });
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    await Promise.all([lambda?.close(), dst?.close(), nats?.close(), origin?.close()]);
  });

  it('cli - trigger --wait follows its run: exit 0 and the outcome when complete', async () => {
    const r = await flants(['trigger', 'good', '--wait', '--json', '--timeout', '60s'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const outcome = JSON.parse(r.stdout) as ClassTransferred;
    expect(outcome).toMatchObject({ classId: 'good', status: 'complete', files: 3 });
    // A second trigger is a new run, and --wait follows that one, not the first.
    const again = await flants(['trigger', 'good', '--wait', '--timeout', '60s'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^queued good \(run (\d+-\w+)\); waiting for its outcome\ncomplete good \(run \1\): 3 files/);
    expect(again.stdout).not.toContain(outcome.runId);
  });

  it('cli - trigger --wait exits 1 when the run failed, and status --failed shows it with exit 1', async () => {
    const r = await flants(['trigger', 'bad', '--wait', '--timeout', '60s'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/failed bad \(run \S+\): 3 files.*1 failed/);
    expect(r.stdout).toMatch(/failed bad\/missing\.ts/);

    const failed = await flants(['status', '--failed', '--json'], env);
    expect(failed.code).toBe(1);
    expect((JSON.parse(failed.stdout) as { classes: Array<{ classId: string }> }).classes.map((c) => c.classId)).toEqual(['bad']);
    const good = await flants(['status', '--class', 'good'], env);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/complete\s+good/);
    expect(good.stdout).not.toMatch(/\bbad\b/);
    const all = await flants(['status'], env);
    expect(all.code).toBe(1);
  });

  it('cli - trigger --wait --timeout exits 3 when no outcome comes in time', async () => {
    // A namespace with its streams but no daemon: the trigger is stored and nobody runs it.
    const idle = { ...env, FLANTS_NAMESPACE: uniqueName('idle').replace('-', '_') };
    expect((await flants(['setup'], idle)).code).toBe(0);
    const r = await flants(['trigger', 'good', '--wait', '--timeout', '1s'], idle);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^flants: no outcome for good \(run \S+\) within 1s; the run goes on \(is a daemon running\?.*\)\n$/);
  });

  it('cli - doctor passes on a working setup', async () => {
    const r = await flants(['doctor'], env);
    expect(r.stdout).toMatch(/^NATS\s+ok\s+nats:\/\/127\.0\.0\.1:\d+, server \d+\.\d+/m);
    for (const check of ['JetStream', 'streams', 'consumers', 'source read', 'destination write', 'Lambda']) {
      expect(r.stdout).toMatch(new RegExp(`^${check}\\s+ok\\s`, 'm'));
    }
    expect(r.stdout).toMatch(/all 7 checks passed/);
    expect(r.code).toBe(0);
  });

  it('cli - doctor names each broken part and exits 1', async () => {
    // A port nothing listens on (fetch itself refuses well-known ports such as 1).
    const closed = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => closed.once('listening', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const r = await flants(['doctor', '--json'], {
      ...env,
      FLANTS_ACK_WAIT: '3m', // the daemon's consumers were created with the default
      FLANTS_DEST: 's3://no-such-bucket/x/',
      FLANTS_SOURCE: `http://127.0.0.1:${port}/vod/`,
      FLANTS_LAMBDA_ENDPOINT: 'http://127.0.0.1:1',
    });
    expect(r.code).toBe(1);
    const { ok, checks } = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ check: string; result: string; detail: string }> };
    expect(ok).toBe(false);
    const by = Object.fromEntries(checks.map((c) => [c.check, c]));
    expect(by.NATS?.result).toBe('ok');
    expect(by.consumers).toMatchObject({ result: 'FAIL', detail: expect.stringMatching(/ack_wait is 10s on the server but 180s here \(FLANTS_ACK_WAIT\)/) });
    expect(by['source read']).toMatchObject({ result: 'FAIL', detail: expect.stringMatching(/ECONNREFUSED|refused/) });
    expect(by['destination write']).toMatchObject({ result: 'FAIL', detail: expect.stringMatching(/no-such-bucket.*NoSuchBucket/) });
    expect(by.Lambda).toMatchObject({ result: 'FAIL', detail: expect.stringMatching(/127\.0\.0\.1:1/) });

    const down = await flants(['doctor'], { ...env, NATS_URL: 'nats://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^NATS\s+FAIL\s+cannot reach NATS at nats:\/\/127\.0\.0\.1:1: connection refused/m);
  });
});
