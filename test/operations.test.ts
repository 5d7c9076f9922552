/**
 * Running it for real: the deployable zip runs under the local Lambda
 * endpoint, the CloudFormation template validates, the compose file is
 * accepted, /metrics matches a transfer, and no secret reaches logs or reports.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon } from '../cli/daemon.js';
import { buildLambdaZip } from '../lambda/build-zip.js';
import { invokeWave, makeLambdaClient } from '../lambda/invoke-wave.js';
import { startLocalLambda, type LocalLambda } from '../lambda/local-endpoint.js';
import { startNatsServer, type NatsServer } from '../dev/local/nats-server.js';
import type { S3Server } from '../dev/local/s3-server.js';
import { connectNats } from '../streams/connect-nats.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { getObject, listKeys, natsClient, s3For, startLambda, startNats, startS3, testConfig, testLogger, uniqueName } from './helpers/services.js';

const run = promisify(execFile);
const media = (names: string[]) => ['#EXTM3U', '#EXT-X-TARGETDURATION:2', ...names.flatMap((n) => ['#EXTINF:2,', n]), '#EXT-X-ENDLIST', ''].join('\n');

describe('operations - packaging, validation, metrics, secrets', () => {
  let dst: S3Server;
  let origin: Origin;
  const children: ReturnType<typeof spawn>[] = [];

  beforeAll(async () => {
    dst = await startS3('dest-bucket');
    origin = await startOrigin({ '/vod/a.ts': 'A'.repeat(3000), '/vod/b.ts': 'B'.repeat(10) });
  });
  afterAll(async () => {
    // A test that timed out never reached its own cleanup: no daemon may outlive the file.
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await dst?.close();
    await origin?.close();
  });

  it('ops - the deployment zip builds, and that artifact runs under the local Lambda endpoint', async () => {
    const out = mkdtempSync(join(tmpdir(), 'flants-zip-'));
    const built = await buildLambdaZip(out);
    expect(built.zipBytes).toBeGreaterThan(10_000);
    // Run exactly what would be uploaded: unzip the artifact and load its index.mjs.
    const files = unzipSync(new Uint8Array(await import('node:fs').then((fs) => fs.readFileSync(built.zip))));
    expect(Object.keys(files)).toEqual(['index.mjs']);
    const dir = mkdtempSync(join(tmpdir(), 'flants-unzipped-'));
    writeFileSync(join(dir, 'index.mjs'), files['index.mjs'] as Uint8Array);
    await using local = await startLocalLambda({ concurrency: 2, timeoutMs: 30_000, workers: 1, handlerModule: join(dir, 'index.mjs') });
    const res = await invokeWave(makeLambdaClient({ functionName: 'flants-transfer', endpoint: local.url, region: 'us-east-1', local: true }), 'flants-transfer', {
      source: { location: { kind: 'http', root: `${origin.url}/vod/` }, region: 'us-east-1', forcePathStyle: true },
      dest: { location: { kind: 's3', bucket: 'dest-bucket', prefix: 'zip/' }, endpoint: dst.endpoint, region: 'us-east-1', forcePathStyle: true },
      jobs: [{ src: 'a.ts', key: 'a.ts' }, { src: 'b.ts', key: 'b.ts' }],
      options: { multipartThreshold: 64 << 20, partSize: 16 << 20, fileConcurrency: 2, stallTimeoutMs: 10_000 },
    });
    expect(res.results.map((r) => [r.ok, r.bytes])).toEqual([[true, 3000], [true, 10]]);
    expect((await getObject(s3For(dst), 'dest-bucket', 'zip/a.ts')).toString()).toBe('A'.repeat(3000));
  });

  it('ops - the CloudFormation template validates (and the linter rejects a broken one)', async () => {
    const lint = (file: string, params: string) =>
      run('node_modules/.bin/cfn-lint', ['validate', file, '--parameters', params]).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e) => ({ code: e.code as number, out: `${e.stdout}${e.stderr}` }),
      );
    for (const params of ['CodeBucket=b,DestinationBucket=d', 'CodeBucket=b,DestinationBucket=d,SourceBucket=src', 'CodeBucket=b,DestinationBucket=d,SourceCredentialsSecretArn=x']) {
      const r = await lint('deploy/template.yaml', params);
      expect(r.out, params).toMatch(/Template valid!/);
      expect(r.code, params).toBe(0);
    }
    const broken = join(mkdtempSync(join(tmpdir(), 'flants-cfn-')), 'bad.yaml');
    writeFileSync(broken, 'Resources: { F: { Type: AWS::Lambda::Function, Properties: { Runtime: nodejs20.x, Handler: 5, Timeout: soon } } }\n');
    expect((await lint(broken, 'X=y')).out).toMatch(/Template invalid!/);
  });

  it('ops - docker-compose accepts docker-compose.yml', async () => {
    const r = await run('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q']).then(() => 0, (e) => e.code as number);
    expect(r).toBe(0);
  });

  it('ops - /metrics, scraped during a transfer, ends with counters that match the transfer', async () => {
    await using nats = await startNats();
    await using lambda = await startLambda();
    const names = Array.from({ length: 60 }, (_, i) => `m${i}.ts`);
    origin.files.set('/vod/metrics/index.m3u8', Buffer.from(media(names)));
    for (const n of names) {
      origin.files.set(`/vod/metrics/${n}`, Buffer.from(n.repeat(40)));
      origin.delays.set(`/vod/metrics/${n}`, 30);
    }
    origin.faults.set('/vod/metrics/m5.ts', { status: 503, times: 1 });
    const config = testConfig({
      NATS_URL: nats.url, FLANTS_SOURCE: `${origin.url}/vod/`, FLANTS_DEST: 's3://dest-bucket/metrics-run/', FLANTS_DEST_ENDPOINT: dst.endpoint,
      FLANTS_LAMBDA_ENDPOINT: lambda.url, FLANTS_BATCH_SIZE: '10', FLANTS_WAVE_CONCURRENCY: '2', FLANTS_RETRY_BACKOFF: '100ms',
    });
    const daemon = await startDaemon({ config, logger: testLogger() });
    try {
      await using client = await natsClient(nats.url);
      const t = topology(config.namespace);
      const done = new Promise<ClassTransferred>((resolve) => {
        const sub = client.subscribe(t.subjects.transferred, { callback: (_e, m) => (sub.unsubscribe(), resolve(m.json<ClassTransferred>())) });
      });
      await jetstream(client).publish(t.subjects.recorded, JSON.stringify({ classId: 'metrics', manifest: 'metrics/index.m3u8' }));
      const during = await (await fetch(daemon.metricsUrl as string)).text();
      expect(during).toMatch(/flants_consumer_pending\{stage="dispatcher"\}/);
      const e = await done;
      const text = await (await fetch(daemon.metricsUrl as string)).text();
      const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
      expect(value(/^flants_files_total\{outcome="copied"\} (\d+)/m)).toBe(e.files);
      expect(value(/^flants_bytes_transferred_total (\d+)/m)).toBe(e.bytes);
      expect(value(/^flants_retries_total (\d+)/m)).toBe(1);
      expect(value(/^flants_file_failures_total\{reason="server_error"\} (\d+)/m)).toBe(1);
      expect(value(/^flants_classes_total\{status="complete"\} (\d+)/m)).toBe(1);
      expect(value(/^flants_wave_duration_seconds_count (\d+)/m)).toBeGreaterThanOrEqual(7);
      expect(text).toMatch(/^flants_lambda_concurrency\{kind="limit"\} 2/m);
    } finally {
      await daemon.stop();
    }
  });

  it('ops - credentials and signed-URL tokens never reach logs, events or reports', async () => {
    const secrets = {
      sourceKey: 'AKIASOURCEKEYSECRET1',
      sourceSecret: 'source/secret+KEY/value0123456789abcdef',
      natsToken: 'nats-token-s3cr3t-0123456789',
      dashboardToken: 'dashboard-token-s3cr3t-0123',
      urlToken: 'SIGNEDURLTOKEN0123456789',
      urlSignature: 'abcdef0123456789SIGNATURE',
    };
    await using nats = await startNatsServer({ args: ['--auth', secrets.natsToken] });
    await using lambda = await startLambda();
    const q = `?token=${secrets.urlToken}&X-Amz-Signature=${secrets.urlSignature}`;
    origin.files.set('/vod/sec/index.m3u8', Buffer.from(media([`s0.ts${q}`, `s1.ts${q}`, `missing.ts${q}`, `https://evil.example.com/x.ts${q}`])));
    origin.files.set('/vod/sec/s0.ts', Buffer.from('zero'));
    origin.files.set('/vod/sec/s1.ts', Buffer.from('one'));
    const namespace = uniqueName('sec').replace('-', '_');
    const child = spawn(process.execPath, ['dist/cli.js', 'daemon'], {
      env: {
        ...process.env,
        NATS_URL: nats.url, NATS_TOKEN: secrets.natsToken, FLANTS_NAMESPACE: namespace,
        FLANTS_SOURCE: `${origin.url}/vod/`, FLANTS_SOURCE_ACCESS_KEY_ID: secrets.sourceKey, FLANTS_SOURCE_SECRET_ACCESS_KEY: secrets.sourceSecret,
        FLANTS_DEST: 's3://dest-bucket/sec-run/', FLANTS_DEST_ENDPOINT: dst.endpoint, AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER',
        FLANTS_LAMBDA_ENDPOINT: lambda.url, FLANTS_MAX_ATTEMPTS: '1', FLANTS_DASHBOARD_TOKEN: secrets.dashboardToken,
        FLANTS_DASHBOARD_PORT: '0', FLANTS_METRICS_PORT: '0', LOG_LEVEL: 'trace',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let logs = '';
    child.stdout?.on('data', (d) => (logs += d));
    child.stderr?.on('data', (d) => (logs += d));
    try {
      const nc = await connectNats({ url: nats.url, token: secrets.natsToken }, 'test');
      const t = topology(namespace);
      for (let i = 0; i < 100 && !logs.includes('daemon started'); i++) await new Promise((r) => setTimeout(r, 100));
      const done = new Promise<string>((resolve) => {
        const sub = nc.subscribe(t.subjects.transferred, { callback: (_e, m) => (sub.unsubscribe(), resolve(m.string())) });
      });
      await jetstream(nc).publish(t.subjects.recorded, JSON.stringify({ classId: 'sec', manifest: 'sec/index.m3u8' }));
      const event = await Promise.race([done, new Promise<string>((_, rej) => setTimeout(() => rej(new Error(`no outcome; daemon said:\n${logs.slice(-3000)}`)), 60_000))]);
      const report = (await getObject(s3For(dst), 'dest-bucket', (JSON.parse(event) as ClassTransferred).reportKey)).toString();
      await nc.close();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      // The run did meet the secrets: the tokenised URLs were fetched, a failure and a refusal were reported.
      expect(JSON.parse(event)).toMatchObject({ status: 'failed', files: 4 });
      expect(report).toMatch(/sec\/missing.ts/);
      expect(report).toMatch(/evil.example.com/);
      expect(origin.requests.filter((r) => r.includes(secrets.urlToken)).length).toBeGreaterThanOrEqual(3);
      expect(logs.length).toBeGreaterThan(1_000);
      const keys = await listKeys(s3For(dst), 'dest-bucket');
      for (const [name, value] of Object.entries(secrets)) {
        expect(logs.includes(value), `${name} in logs`).toBe(false);
        expect(event.includes(value), `${name} in event`).toBe(false);
        expect(report.includes(value), `${name} in report`).toBe(false);
        expect(keys.some((k) => k.includes(value)), `${name} in keys`).toBe(false);
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
