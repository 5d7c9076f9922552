/**
 * The command line as a person or a script meets it: every failure is one line
 * `flants: <problem> (<fix>)` on stderr with a documented exit code (README,
 * Exit codes), the config file reaches every command, and help shows examples.
 * Runs the built CLI (dist/cli.js), as users do.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { startNatsServer, type NatsServer } from '../dev/local/nats-server.js';
import { s3For, startNats, startS3, uniqueName } from './helpers/services.js';

interface Result { code: number; stdout: string; stderr: string; ms: number }

/** Runs `flants args` with exactly `env` (plus PATH), never the caller's FLANTS_ or AWS_ settings. */
function flants(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ['dist/cli.js', ...args], { env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const ends = { FLANTS_SOURCE: 's3://source-bucket/lib/', FLANTS_DEST: 's3://dest-bucket/', FLANTS_DASHBOARD: 'false', FLANTS_METRICS: 'false' };

/** Exactly one line, in the flants form, and no stack trace. */
function expectOneLine(r: Result, pattern: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('flants: warning:'));
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^flants: .+ \(.+\)$/);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('cli - one-line errors and exit codes', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let silentUrl: string;

  beforeAll(async () => {
    // A port that accepts connections and never speaks NATS (as an HTTP or database port would not).
    silent = createServer((s) => sockets.push(s)).listen(0, '127.0.0.1');
    await new Promise((r) => silent.once('listening', r));
    silentUrl = `nats://127.0.0.1:${(silent.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  it.each([['status'], ['trigger', 'c1'], ['audit'], ['scan', '--dry-run'], ['daemon'], ['setup']])('cli - %s with NATS refused: one line, exit 3', async (...args) => {
    const r = await flants(args, { ...ends, NATS_URL: 'nats://127.0.0.1:1' });
    expect(r.code).toBe(3);
    expectOneLine(r, /^flants: cannot reach NATS at nats:\/\/127\.0\.0\.1:1: connection refused \(set NATS_URL\)$/);
  });

  it('cli - an unknown host: one line, exit 3', async () => {
    const r = await flants(['status'], { NATS_URL: 'nats://no-such-host.invalid:4222' });
    expect(r.code).toBe(3);
    expectOneLine(r, /cannot reach NATS at nats:\/\/no-such-host\.invalid:4222: (unknown host|host name lookup failed)/);
  });

  it('cli - a port that does not speak NATS fails within the 5 s connect timeout, exit 3', async () => {
    const r = await flants(['trigger', 'c1'], { NATS_URL: silentUrl });
    expect(r.code).toBe(3);
    expectOneLine(r, /cannot reach NATS at .*: no NATS answer within 5 s \(is that a NATS port\?\) \(set NATS_URL\)/);
    expect(r.ms).toBeLessThan(12_000);
  });

  it('cli - NATS refusing the credentials: one line naming the settings, exit 3', async () => {
    await using nats = await startNatsServer({ args: ['--auth', 's3cret-token-for-test'] });
    const r = await flants(['status'], { NATS_URL: nats.url, NATS_TOKEN: 'wrong-token' });
    expect(r.code).toBe(3);
    expectOneLine(r, /NATS at .* refused the credentials: .*\(check NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY_SEED\)/);
    expect(r.stderr).not.toMatch(/wrong-token/);
  });

  it('cli - LOG_LEVEL=debug adds the stack trace', async () => {
    const r = await flants(['status'], { NATS_URL: 'nats://127.0.0.1:1', LOG_LEVEL: 'debug' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^flants: cannot reach NATS/);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it.each([
    [['nope'], /unknown command 'nope'/],
    [['status', '--bogus'], /unknown option '--bogus'/],
    [['trigger'], /missing required argument 'classId'/],
    [['trigger', 'c1', '--wait', '--timeout', '30'], /--timeout .* number without a unit.*write 30s/],
    [['trigger', 'c1', '--json'], /--timeout and --json go with --wait/],
    [['daemon', '--actors', 'crawler,cook'], /unknown actor "cook"/],
    [['audit', '--since', 'yesterday-ish'], /--since is not a date/],
  ])('cli - usage error %o: one line, exit 2', async (args, pattern) => {
    const r = await flants(args, { ...ends, NATS_URL: 'nats://127.0.0.1:1' });
    expect(r.code).toBe(2);
    expectOneLine(r, pattern);
  });

  it.each([
    [{ FLANTS_ACK_WAIT: '120' }, /FLANTS_ACK_WAIT is a number without a unit: "120" \(write 120s for seconds or 120ms for milliseconds\)/],
    [{ FLANTS_STALL_TIMEOUT: '0s' }, /FLANTS_STALL_TIMEOUT must be longer than 0/],
    [{ NATS_URL: 'not a url' }, /NATS_URL is not a NATS server URL: "not a url"/],
    [{ FLANTS_SOURCE: '' }, /FLANTS_SOURCE is required/],
    [{ NATS_USER: 'only-user' }, /NATS_USER and NATS_PASSWORD must be set together/],
  ])('cli - configuration error %o: one line, exit 2, before any connection', async (override, pattern) => {
    const r = await flants(['daemon'], { ...ends, NATS_URL: 'nats://127.0.0.1:1', ...override });
    expect(r.code).toBe(2);
    expectOneLine(r, pattern);
  });

  it('cli - trigger and status validate NATS_URL too, exit 2', async () => {
    for (const cmd of [['trigger', 'c1'], ['status']]) {
      const r = await flants(cmd, { NATS_URL: 'not a url' });
      expect(r.code).toBe(2);
      expectOneLine(r, /NATS_URL is not a NATS server URL/);
    }
  });

  it('cli - a misspelt FLANTS_ variable is warned about with a suggestion', async () => {
    const r = await flants(['status'], { NATS_URL: 'nats://127.0.0.1:1', FLANTS_BATCHSIZE: '50' });
    expect(r.stderr).toMatch(/^flants: warning: FLANTS_BATCHSIZE is not a flants setting and is ignored \(did you mean FLANTS_BATCH_SIZE\?\)$/m);
  });

  it('cli - --version and help with examples and environment for every command', async () => {
    const v = await flants(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    for (const cmd of ['daemon', 'setup', 'trigger', 'status', 'doctor', 'scan', 'audit', 'demo', 'lambda-local']) {
      const h = await flants([cmd, '--help']);
      expect(h.code, cmd).toBe(0);
      expect(h.stdout, cmd).toMatch(/Examples:\n {2}\$ flants /);
      expect(h.stdout, cmd).toMatch(/Environment:\n/);
    }
    const top = await flants(['--help']);
    expect(top.stdout).toMatch(/Exit codes: 0 success, 1 failed\/drift, 2 usage or configuration, 3 cannot connect/);
  });
});

describe('cli - one configuration path', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.close();
  });

  it('cli - FLANTS_CONFIG_FILE reaches setup, trigger and status (namespace and NATS_URL from the file)', async () => {
    const namespace = uniqueName('cf').replace('-', '_');
    const file = join(mkdtempSync(join(tmpdir(), 'flants-cf-')), 'flants.env');
    writeFileSync(file, [`NATS_URL=${nats.url}`, `FLANTS_NAMESPACE=${namespace}`, 'FLANTS_SOURCE=s3://source-bucket/lib/', 'FLANTS_DEST=s3://dest-bucket/', ''].join('\n'));
    const env = { FLANTS_CONFIG_FILE: file };
    const setup = await flants(['setup'], env);
    expect(setup.stderr).toBe('');
    expect(setup.code).toBe(0);
    expect(setup.stdout).toContain(`${namespace}_FLANTS_CLASSES`);
    const trigger = await flants(['trigger', 'c1'], env);
    expect(trigger.stderr).toBe('');
    expect(trigger.code).toBe(0);
    expect(trigger.stdout).toMatch(new RegExp(`queued c1 on ${namespace}\\.class\\.recorded`));
    const status = await flants(['status', '--json'], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ classes: [] });
    // The environment wins over the file.
    const elsewhere = await flants(['status'], { ...env, NATS_URL: 'nats://127.0.0.1:1' });
    expect(elsewhere.code).toBe(3);
  });

  it('cli - scan --dry-run on an S3 source whose listing the service fails: one line naming the request, exit 3', async () => {
    // s3rver answers a listing of more than 1,000 keys with HTTP 500 InternalError (the continuation
    // token of a truncated page uses DES, which OpenSSL 3 refuses): a real endpoint failing a real request.
    await using s3 = await startS3('scan-source', 'scan-dest');
    const client = s3For(s3);
    const keys = Array.from({ length: 1_001 }, (_, i) => `vod/c${String(i).padStart(4, '0')}/master.m3u8`);
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(keys.slice(i, i + 50).map((Key) => client.send(new PutObjectCommand({ Bucket: 'scan-source', Key, Body: '#EXTM3U\n' }))));
    }
    const r = await flants(['scan', '--dry-run', '--quiet'], {
      NATS_URL: nats.url,
      FLANTS_NAMESPACE: uniqueName('scan').replace('-', '_'),
      FLANTS_SOURCE: 's3://scan-source/vod/',
      FLANTS_SOURCE_ENDPOINT: s3.endpoint,
      FLANTS_DEST: 's3://scan-dest/mirror/',
      FLANTS_DEST_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
    });
    expect(r.code).toBe(3);
    expectOneLine(r, new RegExp(
      `^flants: source ListObjectsV2 of s3://scan-source/vod/ at ${s3.endpoint} failed: ` +
        'the service answered HTTP 500 InternalError: .+ \\(a fault of that service, not of flants: check that service and FLANTS_SOURCE_ENDPOINT, then run again\\)$',
    ));
  });
});
