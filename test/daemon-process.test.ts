/**
 * The daemon as users run it: `flants daemon` in its own process. SIGTERM
 * drains in-flight work and exits 0; a restarted daemon finishes the rest with
 * exact counts and exactly one outcome per class. Also measures its peak RSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { S3Server } from '../dev/local/s3-server.js';
import { writeSyntheticLibrary, type Library } from '../dev/local/synthetic-library.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { natsClient, s3For, startLambda, startNats, startS3, uniqueName } from './helpers/services.js';

function peakRssMb(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

describe('daemon - process lifecycle', () => {
  let nats: NatsServer;
  let src: S3Server;
  let dst: S3Server;
  let lambda: LocalLambda;
  let library: Library;
  const namespace = uniqueName('d').replace('-', '_');

  const children: ChildProcess[] = [];
  const spawnDaemon = (): ChildProcess => {
    const child = spawn(process.execPath, ['dist/cli.js', 'daemon'], {
      env: {
        ...process.env,
        NATS_URL: nats.url,
        FLANTS_NAMESPACE: namespace,
        FLANTS_SOURCE: 's3://source-bucket/lib/',
        FLANTS_SOURCE_ENDPOINT: src.endpoint,
        FLANTS_DEST: 's3://dest-bucket/',
        FLANTS_DEST_ENDPOINT: dst.endpoint,
        FLANTS_LAMBDA: 'local',
        FLANTS_LAMBDA_ENDPOINT: lambda.url,
        FLANTS_WAVE_CONCURRENCY: '4',
        FLANTS_BATCH_SIZE: '20',
        FLANTS_BATCH_WAIT: '50ms',
        LOG_LEVEL: process.env.FLANTS_TEST_LOG ?? 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stderr?.on('data', (d) => process.env.FLANTS_TEST_LOG && process.stderr.write(d));
    child.stdout?.on('data', (d) => process.env.FLANTS_TEST_LOG && process.stderr.write(d));
    return child;
  };

  beforeAll(async () => {
    [nats, src, dst, lambda] = await Promise.all([startNats(), startS3('source-bucket'), startS3('dest-bucket'), startLambda()]);
    library = await writeSyntheticLibrary(s3For(src), 'source-bucket', 'lib/', {
      classes: 10, renditions: 3, segments: 60, minBytes: 20_000, maxBytes: 400_000,
    });
  }, 120_000);

  afterAll(async () => {
    // A test that timed out never reached its own cleanup: no daemon may outlive the file.
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all([lambda?.close(), src?.close(), dst?.close(), nats?.close()]);
  });

  it('daemon - SIGTERM drains and exits 0; a restart finishes with exact counts, one outcome per class', async () => {
    await using client = await natsClient(nats.url);
    const t = topology(namespace);
    const outcomes: ClassTransferred[] = [];
    const sub = client.subscribe(t.subjects.transferred);
    void (async () => {
      for await (const m of sub) outcomes.push(m.json<ClassTransferred>());
    })();

    const first = spawnDaemon();
    const firstExit = new Promise<number | null>((resolve) => first.once('exit', (code) => resolve(code)));
    // Wait until the daemon has created its streams, then trigger every class.
    const jsm = await jetstreamManager(client);
    for (let i = 0; i < 100; i++) {
      if (await jsm.streams.info(t.streams.classes).then(() => true, () => false)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const js = jetstream(client);
    for (const id of library.classIds) await js.publish(t.subjects.recorded, id);
    // Let it get some way in, then ask it to stop mid-transfer.
    for (let i = 0; i < 200 && outcomes.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    first.kill('SIGTERM');
    expect(await firstExit).toBe(0);
    const doneBeforeRestart = outcomes.length;
    expect(doneBeforeRestart).toBeLessThan(library.classIds.length);

    const second = spawnDaemon();
    let peak = 0;
    const until = Date.now() + (process.env.FLANTS_TEST_LOG ? 15_000 : 120_000);
    while (outcomes.length < library.classIds.length && Date.now() < until) {
      peak = Math.max(peak, peakRssMb(second.pid));
      await new Promise((r) => setTimeout(r, 100));
    }
    if (process.env.FLANTS_TEST_LOG) {
      for (const [stream, c] of [[t.streams.classes, 'scanner'], [t.streams.work, 'crawler'], [t.streams.work, 'dispatcher'], [t.streams.events, 'aggregator']] as const) {
        const ci = await jsm.consumers.info(stream, c);
        console.log(c, 'pending', ci.num_pending, 'ack_pending', ci.num_ack_pending, 'redelivered', ci.num_redelivered, 'waiting', ci.num_waiting);
      }
    }
    await new Promise((r) => setTimeout(r, 1_000)); // room for a duplicate to show up
    second.kill('SIGTERM');
    await new Promise((resolve) => second.once('exit', resolve));
    console.log(`daemon: ${doneBeforeRestart}/${library.classIds.length} classes before SIGTERM; restarted daemon peak RSS ${peak.toFixed(0)} MB`);

    expect(outcomes.map((o) => o.classId).sort()).toEqual([...library.classIds].sort());
    for (const o of outcomes) {
      const files = library.files.filter((f) => f.key.startsWith(`lib/${o.classId}/`));
      expect(o.status).toBe('complete');
      expect(o.files).toBe(files.length);
      expect(o.bytes).toBe(files.reduce((n, f) => n + f.bytes, 0));
    }
  });
});
