/**
 * `flants demo`: the whole pipeline on embedded defaults. It uses NATS at
 * NATS_URL when reachable (in a private namespace, removed afterwards) or
 * starts its own nats-server, starts two local S3 endpoints and the local
 * Lambda endpoint, generates a small library, transfers it and prints results.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load-config.js';
import { startLocalLambda } from '../lambda/local-endpoint.js';
import { findNatsServer, startNatsServer, type NatsServer } from '../dev/local/nats-server.js';
import { S3RVER_CREDENTIALS, startS3Server } from '../dev/local/s3-server.js';
import { writeSyntheticLibrary } from '../dev/local/synthetic-library.js';
import { makeS3Client } from '../storage/s3-client.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { readSnapshot } from '../dashboard/snapshot.js';
import { startDaemon } from './daemon.js';

/** Demo size. */
export interface DemoOptions {
  readonly classes: number;
  readonly renditions: number;
  readonly segments: number;
  readonly natsUrl: string;
  readonly out: NodeJS.WriteStream;
  readonly logger: Logger;
}

async function reachable(url: string): Promise<NatsConnection | undefined> {
  try {
    return await connect({ servers: url, timeout: 1_500, maxReconnectAttempts: 0 });
  } catch {
    return undefined;
  }
}

const mb = (n: number) => (n / 1e6).toFixed(1);

/** Runs the demo; resolves to the process exit code. */
export async function runDemo(o: DemoOptions): Promise<number> {
  const say = (line: string) => o.out.write(`${line}\n`);
  process.env.AWS_ACCESS_KEY_ID ??= S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY ??= S3RVER_CREDENTIALS.secretAccessKey;

  let nats: NatsServer | undefined;
  let natsUrl = o.natsUrl;
  const probe = await reachable(natsUrl);
  if (probe) {
    await probe.close();
    say(`NATS      ${natsUrl} (reachable; using a private demo namespace)`);
  } else {
    if (!findNatsServer()) {
      say(`NATS at ${natsUrl} is not reachable and nats-server is not installed.`);
      say('Install it (Debian/Ubuntu: sudo apt-get install nats-server) or set NATS_URL to a running server.');
      return 1;
    }
    nats = await startNatsServer();
    natsUrl = nats.url;
    say(`NATS      started nats-server -js at ${natsUrl}`);
  }
  const [src, dst] = await Promise.all([startS3Server(['demo-source']), startS3Server(['demo-dest'])]);
  const namespace = `demo_${randomBytes(3).toString('hex')}`;
  const config = loadConfig({
    ...process.env,
    NATS_URL: natsUrl,
    FLANTS_NAMESPACE: namespace,
    FLANTS_SOURCE: 's3://demo-source/vod/',
    FLANTS_SOURCE_ENDPOINT: src.endpoint,
    FLANTS_SOURCE_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    FLANTS_SOURCE_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    FLANTS_DEST: 's3://demo-dest/mirror/',
    FLANTS_DEST_ENDPOINT: dst.endpoint,
    FLANTS_LAMBDA: 'local',
    FLANTS_LAMBDA_ENDPOINT: '',
    FLANTS_BATCH_WAIT: '100ms',
    FLANTS_DASHBOARD_PORT: process.env.FLANTS_DASHBOARD_PORT ?? '0',
  });
  const lambda = await startLocalLambda({ concurrency: 32, timeoutMs: 120_000, logger: o.logger });
  say(`S3        source ${src.endpoint}  destination ${dst.endpoint} (s3rver)`);
  say(`Lambda    ${lambda.url} (local Lambda API, worker threads)`);
  let nc: NatsConnection | undefined;
  try {
    const library = await writeSyntheticLibrary(makeS3Client({ endpoint: src.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS }), 'demo-source', 'vod/', {
      classes: o.classes,
      renditions: o.renditions,
      segments: o.segments,
      minBytes: 4 * 1024,
      maxBytes: 512 * 1024,
      classIdPrefix: 'demo-class',
    });
    say(`Library   ${library.classIds.length} classes x ${o.renditions} renditions x ${o.segments} segments: ${library.files.length} files, ${mb(library.totalBytes)} MB`);
    const daemon = await startDaemon({ config: { ...config, lambda: { ...config.lambda, endpoint: lambda.url } }, logger: o.logger });
    if (daemon.dashboardUrl) say(`Dashboard ${daemon.dashboardUrl}/ (live while the demo runs)`);
    const t = topology(namespace);
    nc = await connect({ servers: natsUrl });
    const sub = nc.subscribe(t.subjects.transferred);
    const js = jetstream(nc);
    const started = Date.now();
    for (const id of library.classIds) await js.publish(t.subjects.recorded, id);
    say(`Triggered ${library.classIds.length} classes on ${t.subjects.recorded}\n`);
    const results: ClassTransferred[] = [];
    const ticker = setInterval(() => {
      void readSnapshot(nc as NatsConnection, t, namespace).then((snap) => {
        const active = snap.classes.filter((c) => c.status === 'transferring' || c.status === 'crawling');
        for (const c of active) {
          const frac = c.total ? (c.done + c.failed) / c.total : 0;
          const full = Math.round(frac * 20);
          say(`  [${'#'.repeat(full)}${'.'.repeat(20 - full)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${c.classId} ${c.done + c.failed}/${c.total ?? '?'} files`);
        }
      }, (err) => o.logger.debug({ err }, 'progress snapshot failed'));
    }, 700);
    const deadline = setTimeout(() => sub.unsubscribe(), 5 * 60_000);
    for await (const m of sub) {
      const e = m.json<ClassTransferred>();
      results.push(e);
      say(`  ${e.status === 'complete' ? 'OK  ' : 'FAIL'} ${e.classId.padEnd(18)} ${String(e.files).padStart(5)} files ${mb(e.bytes).padStart(8)} MB  report ${e.reportKey}`);
      if (results.length === library.classIds.length) break;
    }
    clearInterval(ticker);
    clearTimeout(deadline);
    const secs = (Date.now() - started) / 1000;
    const files = results.reduce((n, e) => n + e.files, 0);
    const bytes = results.reduce((n, e) => n + e.bytes, 0);
    const complete = results.filter((e) => e.status === 'complete').length;
    say('');
    say(`Total     ${complete}/${library.classIds.length} classes complete, ${files} files, ${mb(bytes)} MB in ${secs.toFixed(2)} s ` +
      `(${(files / secs).toFixed(0)} files/s, ${mb(bytes / secs)} MB/s), peak RSS ${mb(process.resourceUsage().maxRSS * 1024)} MB`);
    await daemon.stop();
    return complete === library.classIds.length ? 0 : 1;
  } finally {
    if (nc && !nats) {
      // A shared server keeps nothing of the demo.
      const jsm = await jetstreamManager(nc);
      const t = topology(namespace);
      for (const s of Object.values(t.streams)) await jsm.streams.delete(s).catch(() => undefined);
      for (const kv of [t.kv.classes, t.kv.parts, t.kv.fleet]) await jsm.streams.delete(`KV_${kv}`).catch(() => undefined);
    }
    await nc?.close();
    await Promise.all([lambda.close(), src.close(), dst.close()]);
    await nats?.close();
  }
}
