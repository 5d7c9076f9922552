/**
 * `flants trigger --wait`, `flants status --failed` and `flants doctor` against
 * a real daemon: nats-server, an HTTP origin, an S3 endpoint and the local
 * Lambda. The CLI runs as users run it, from dist/cli.js.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import { destinationCheck } from '../cli/doctor.js';
import type { FlantsConfig } from '../config/load-config.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import { S3RVER_CREDENTIALS, type S3Server } from '../dev/local/s3-server.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import { openClassStateKv } from '../streams/ensure-topology.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { ClassProgress } from '../tracking/class-progress.js';
import { classRunsPrefix, runStateKey } from '../tracking/run-keys.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { childrenOf, stillRunning } from './helpers/processes.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { listKeys, natsClient, s3For, startLambda, startNats, startS3, testConfig, testLogger, uniqueName } from './helpers/services.js';

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
  let config: FlantsConfig;

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
    config = testConfig(vars);
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

  it('cli - doctor deletes its destination probe even when the write times out', async () => {
    // The proxy passes the PUT on, so the probe lands, and never answers it: doctor's 10 s probe timeout ends the write.
    await using proxy = await startFaultProxy(dst.endpoint, (req) => (req.method === 'PUT' ? 'stall-answer' : undefined));
    const r = await flants(['doctor', '--json'], { ...env, FLANTS_DEST_ENDPOINT: proxy.url });
    expect(r.code).toBe(1);
    const { checks } = JSON.parse(r.stdout) as { checks: Array<{ check: string; result: string; detail: string }> };
    expect(checks.find((c) => c.check === 'destination write')).toMatchObject({
      result: 'FAIL',
      detail: expect.stringMatching(/^write s3:\/\/dest-bucket\/mirror\/_flants\/reports\/doctor-probe-\w+: destination: no answer within 10s; probe clean-up done \(check FLANTS_DEST/),
    });
    expect(proxy.injected).toEqual([expect.stringMatching(/^stall-answer PUT \/dest-bucket\/mirror\/_flants\/reports\/doctor-probe-/)]);
    expect((await listKeys(s3For(dst), 'dest-bucket')).filter((k) => k.includes('doctor-probe-'))).toEqual([]);
  });

  it('cli - doctor reports a destination probe it could not clean up, naming its key', async () => {
    await using proxy = await startFaultProxy(dst.endpoint, (req) => (req.method === 'PUT' ? 'stall-answer' : req.method === 'DELETE' ? 'reset' : undefined));
    const check = await destinationCheck({ ...config, destS3: { ...config.destS3, endpoint: proxy.url } }, 1_000);
    expect(check).toMatchObject({
      result: 'FAIL',
      detail: expect.stringMatching(/^write (s3:\/\/dest-bucket\/\S+doctor-probe-\w+): destination: no answer within 1s; probe clean-up failed: .+; delete \1 by hand if it is there \(check FLANTS_DEST/),
    });
    expect(proxy.injected.some((i) => i.startsWith('reset DELETE'))).toBe(true);
    // It did land: remove it, as the message says to.
    const left = (await listKeys(s3For(dst), 'dest-bucket')).filter((k) => k.includes('doctor-probe-'));
    expect(left).toHaveLength(1);
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await s3For(dst).send(new DeleteObjectCommand({ Bucket: 'dest-bucket', Key: left[0] as string }));
  });

  it('cli - status --class lists only that class\'s keys, by prefix, and leaves no consumer on the bucket', async () => {
    const namespace = uniqueName('many').replace('-', '_');
    const t = topology(namespace);
    await using client = await natsClient(nats.url);
    const kv = await openClassStateKv(client, t);
    const started = new Date().toISOString();
    const put = (id: string, runId: string, status = 'complete') => {
      const p = new ClassProgress(id, runId, started);
      return kv.put(runStateKey(id, runId), JSON.stringify({ ...p.toJSON(), status }));
    };
    const ids = Array.from({ length: 150 }, (_, i) => `lecture-${String(i).padStart(3, '0')}`);
    for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => put(id, `1-${id}`)));
    // A later run of the asked-for class, and a class whose id starts with it: only the run belongs.
    await put('lecture-042', '2-later', 'failed');
    await put('lecture-0420', '1-other', 'failed');

    // Every JetStream API request the server receives while the command runs.
    const api: string[] = [];
    const spy = client.subscribe('$JS.API.>', { callback: (_err, m) => void api.push(`${m.subject} ${m.string()}`) });
    await client.flush();
    const r = await flants(['status', '--class', 'lecture-042', '--json'], { ...env, FLANTS_NAMESPACE: namespace });
    await client.flush();
    spy.unsubscribe();

    expect(r.stderr).toBe('');
    expect(r.code).toBe(1); // its latest run failed
    const shown = (JSON.parse(r.stdout) as { classes: Array<{ classId: string; runId: string }> }).classes;
    expect(shown.map((c) => [c.classId, c.runId])).toEqual([['lecture-042', '2-later']]);
    const bucket = t.kv.classes;
    const touched = api.filter((x) => x.includes(`$KV.${bucket}.class.`));
    expect(touched.some((x) => x.startsWith(`$JS.API.STREAM.INFO.KV_${bucket} `) && x.includes(`$KV.${bucket}.${classRunsPrefix('lecture-042')}>`))).toBe(true);
    for (const x of touched) expect(x).toContain(`$KV.${bucket}.${classRunsPrefix('lecture-042')}`);
    expect(api.filter((x) => /^\$JS\.API\.CONSUMER\.(CREATE|DURABLE\.CREATE)\./.test(x))).toEqual([]);
    const jsm = await jetstreamManager(client);
    expect((await jsm.streams.info(`KV_${bucket}`)).state.consumer_count).toBe(0);
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

/** A `flants demo` run as a shell job: its own process group, and its own TMPDIR to look into afterwards. */
interface DemoRun {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly tmp: string;
  readonly out: { stdout: string; stderr: string };
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stdout matches `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

function startDemo(args: string[], env: Record<string, string>, command: string[] = [process.execPath, 'dist/cli.js', 'demo']): DemoRun {
  const tmp = mkdtempSync(join(tmpdir(), 'flants-demo-test-'));
  const [bin, ...rest] = command as [string, ...string[]];
  const child = spawn(bin, [...rest, ...args], { env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), TMPDIR: tmp, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    pid: child.pid as number,
    tmp,
    out,
    exited,
    waitFor: async (pattern, timeoutMs = 60_000) => {
      for (const until = Date.now() + timeoutMs; !pattern.test(out.stdout); await new Promise((r) => setTimeout(r, 50))) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`demo output never matched ${pattern}:\n${out.stdout}\n${out.stderr}`);
      }
    },
  };
}

/** What a running demo has made: its child processes and temp dirs, seen while it runs. */
function whatItMade(run: DemoRun): { children: Array<{ pid: number; command: string }>; dirs: string[] } {
  return { children: childrenOf(run.pid), dirs: readdirSync(run.tmp).sort() };
}

/** After the demo exited: none of its children run, its temp dirs are gone, and its endpoints are closed. */
async function expectNothingLeft(run: DemoRun, made: ReturnType<typeof whatItMade>): Promise<void> {
  expect(made.children.filter(stillRunning).map((c) => c.command)).toEqual([]);
  expect(readdirSync(run.tmp)).toEqual([]);
  const endpoints = [...run.out.stdout.matchAll(/http:\/\/127\.0\.0\.1:\d+/g)].map((m) => m[0]);
  expect(endpoints.length).toBeGreaterThanOrEqual(2);
  for (const url of endpoints) await expect(fetch(url), url).rejects.toThrow();
}

/** Streams and KV buckets (every bucket is a stream) that a demo namespace left on `url`. */
async function demoStreams(url: string): Promise<string[]> {
  await using client = await natsClient(url);
  const jsm = await jetstreamManager(client);
  const names: string[] = [];
  for await (const name of jsm.streams.names()) if (/^(KV_)?demo_/.test(name)) names.push(name);
  return names;
}

describe('cli - the demo leaves nothing behind, however it ends', () => {
  let shared: NatsServer;
  const runs: DemoRun[] = [];
  const demo = (...a: Parameters<typeof startDemo>) => {
    const run = startDemo(...a);
    runs.push(run);
    return run;
  };

  beforeAll(async () => {
    shared = await startNats();
  });
  afterAll(async () => {
    // A failed test must not leave its demo running, nor the test its TMPDIRs.
    for (const r of runs) if (r.child.exitCode === null && r.child.signalCode === null) process.kill(-r.pid, 'SIGKILL');
    for (const r of runs) rmSync(r.tmp, { recursive: true, force: true });
    await shared?.close();
  });

  const PRIVATE = { NATS_URL: 'nats://127.0.0.1:1' };
  // Large enough that the transfer is still running when the signal lands.
  const LONG = ['--segments', '200'];

  it('cli - demo completes 4/4 on a shared NATS, prints plain lines into a pipe, and removes its namespace', async () => {
    const run = demo([], { NATS_URL: shared.url });
    await run.waitFor(/^Triggered /m);
    const made = whatItMade(run);
    expect(made.dirs.map((d) => d.replace(/-\w+$/, ''))).toEqual(['flants-s3', 'flants-s3']);
    const { code } = await run.exited;
    expect(run.out.stderr).toBe('');
    expect(code).toBe(0);
    expect(run.out.stdout).toMatch(/^Total {5}4\/4 classes complete, 376 files/m);
    expect(run.out.stdout.match(/^ {2}OK {3}demo-class-\d+ /gm)).toHaveLength(4);
    // A pipe gets no escape codes and no carriage returns, and no wall of repeated bars.
    expect(run.out.stdout).not.toMatch(/[\x1b\r]/);
    expect(run.out.stdout).not.toMatch(/\[[#.]+\]/);
    await expectNothingLeft(run, made);
    expect(await demoStreams(shared.url)).toEqual([]);
  });

  it('cli - demo on a terminal redraws its progress bars in place', async () => {
    // `script` gives the demo a pseudo-terminal, as a person's shell would.
    const run = demo([], { ...PRIVATE, COLUMNS: '120' }, ['script', '-qfec', 'node dist/cli.js demo --classes 2 --segments 150', '/dev/null']);
    await run.waitFor(/Triggered /);
    const { code } = await run.exited;
    expect(code).toBe(0);
    const screen = run.out.stdout;
    expect(screen).toMatch(/Total {5}2\/2 classes complete/);
    expect(screen).toMatch(/ {2}\[[#.]{20}\] +\d+% transferring +demo-class-000\d +\d+\/454 files/);
    // The cursor moved back up to redraw; never hidden (an abrupt exit would leave it hidden).
    expect(screen).toMatch(/\x1b\[1A/);
    expect(screen).not.toContain('\x1b[?25l');
    expect(readdirSync(run.tmp)).toEqual([]);
  });

  it('cli - demo stopped by SIGTERM mid-run stops its nats-server and removes its temp dirs', async () => {
    const run = demo(LONG, PRIVATE);
    await run.waitFor(/^Triggered /m);
    const made = whatItMade(run);
    expect(made.children.map((c) => c.command)).toEqual([expect.stringMatching(/nats-server .*-sd .*flants-nats-/)]);
    expect(made.dirs.map((d) => d.replace(/-\w+$/, ''))).toEqual(['flants-nats', 'flants-s3', 'flants-s3']);
    process.kill(run.pid, 'SIGTERM');
    const { code } = await run.exited;
    expect(code, run.out.stderr).toBe(143);
    expect(run.out.stdout).not.toMatch(/^Total /m);
    expect(run.out.stderr).toMatch(/flants: demo interrupted by SIGTERM; removed everything it had started\n$/);
    await expectNothingLeft(run, made);
  });

  it('cli - demo stopped by Ctrl-C (SIGINT to its whole process group) mid-run leaves nothing behind', async () => {
    const run = demo(LONG, PRIVATE);
    await run.waitFor(/^Triggered /m);
    const made = whatItMade(run);
    expect(made.children).toHaveLength(1);
    process.kill(-run.pid, 'SIGINT');
    const { code } = await run.exited;
    expect(code).toBe(130);
    expect(run.out.stderr).toMatch(/interrupted by SIGINT; removed everything it had started\n$/);
    await expectNothingLeft(run, made);
  });

  it('cli - demo on a shared NATS stopped by SIGTERM mid-run removes its streams and buckets', async () => {
    const run = demo(LONG, { NATS_URL: shared.url });
    await run.waitFor(/^Triggered /m);
    const made = whatItMade(run);
    expect(await demoStreams(shared.url)).not.toEqual([]);
    process.kill(run.pid, 'SIGTERM');
    // Its stderr says why, should it exit otherwise (it exited 1 once in a full run).
    expect((await run.exited).code, run.out.stderr).toBe(143);
    await expectNothingLeft(run, made);
    expect(await demoStreams(shared.url)).toEqual([]);
  });

  it('cli - demo whose reader goes away (| head -3) leaves nothing behind', async () => {
    const run = demo(LONG, PRIVATE);
    await run.waitFor(/^Lambda /m);
    const made = whatItMade(run);
    expect(made.children).toHaveLength(1);
    // As `head -3` does after its third line: the read end of the pipe closes.
    run.child.stdout?.destroy();
    const { code } = await run.exited;
    expect(code).toBe(141);
    expect(run.out.stderr).toMatch(/flants: demo output closed; removed everything it had started\n$/);
    expect(run.out.stderr).not.toMatch(/EPIPE|\n\s+at /);
    await expectNothingLeft(run, made);
  });
});
