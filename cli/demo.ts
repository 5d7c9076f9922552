/**
 * `flants demo`: the whole pipeline on embedded defaults. It uses NATS at
 * NATS_URL when reachable (in a private namespace, removed afterwards) or
 * starts its own nats-server, starts two local S3 endpoints and the local
 * Lambda endpoint, generates a small library, transfers it and prints results.
 *
 * Everything it makes is undone on every way out: success, failure, an
 * interruption (the entry point aborts `signal` on SIGINT, SIGTERM or SIGHUP)
 * and a closed output (`flants demo | head -3`).
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load-config.js';
import { readSnapshot } from '../dashboard/snapshot.js';
import { findNatsServer, startNatsServer } from '../dev/local/nats-server.js';
import { S3RVER_CREDENTIALS, startS3Server } from '../dev/local/s3-server.js';
import { writeSyntheticLibrary } from '../dev/local/synthetic-library.js';
import { startLocalLambda } from '../lambda/local-endpoint.js';
import { makeS3Client } from '../storage/s3-client.js';
import type { ClassTransferred } from '../streams/messages.js';
import { topology } from '../streams/topology.js';
import { startDaemon } from './daemon.js';
import { progressBars } from './progress-bars.js';
import { Teardown } from './teardown.js';
import { displayUrl } from './failures.js';

/** Demo size, where it writes, and what interrupts it. */
export interface DemoOptions {
  readonly classes: number;
  readonly renditions: number;
  readonly segments: number;
  readonly natsUrl: string;
  /** Results and progress. */
  readonly out: NodeJS.WriteStream;
  /** Why the demo stopped early: stdout may be the pipe that closed, and a script reading it wants results only. */
  readonly notices: NodeJS.WritableStream;
  readonly logger: Logger;
  /** Aborted with the signal's name (`SIGINT`, `SIGTERM`, `SIGHUP`) to stop early; everything is still cleaned up. */
  readonly signal?: AbortSignal;
}

/** Exit codes of an interrupted demo: 128 + the signal's number, as a shell reports a process killed by it. */
const INTERRUPTED: Record<string, number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143, SIGPIPE: 141 };

/** How long the transfer may take before the demo gives up on it. */
const TRANSFER_DEADLINE_MS = 5 * 60_000;

async function reachable(url: string): Promise<NatsConnection | undefined> {
  try {
    return await connect({ servers: url, timeout: 1_500, maxReconnectAttempts: 0 });
  } catch {
    return undefined;
  }
}

/** Waits for `p`, or throws the abort reason as soon as `signal` aborts; `p` is left to settle on its own. */
function until<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  p.catch(() => undefined); // an abandoned step may fail once its servers are gone
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Removes every stream and KV bucket of `namespace` (the demo's, on a server it shares with others). */
async function removeNamespace(nc: NatsConnection, namespace: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  // Listed, not named one by one: whatever part of flants made a bucket (the dashboard's audits bucket once stayed behind).
  const ours = (name: string) => name.startsWith(`${namespace}_`) || name.startsWith(`KV_${namespace}_`);
  const names: string[] = [];
  for await (const name of jsm.streams.names()) if (ours(name)) names.push(name);
  for (const name of names) await jsm.streams.delete(name);
}

const mb = (n: number) => (n / 1e6).toFixed(1);

/** Runs the demo; resolves to the process exit code. */
export async function runDemo(o: DemoOptions): Promise<number> {
  // One signal for every way the demo is cut short: the entry point's, and a reader that went away.
  const stop = new AbortController();
  o.signal?.addEventListener('abort', () => stop.abort(o.signal?.reason), { once: true });
  if (o.signal?.aborted) stop.abort(o.signal.reason);
  let outputClosed = false;
  const onOutputError = () => {
    outputClosed = true;
    stop.abort('SIGPIPE');
  };
  o.out.on('error', onOutputError);
  const say = (line: string) => {
    if (!outputClosed) o.out.write(`${line}\n`);
  };
  // Five seconds a step: an interrupted demo need not wait for every wave in flight to finish.
  const teardown = new Teardown((name, err) => o.logger.warn({ err, step: name }, 'demo clean-up step failed'), 5_000);
  process.env.AWS_ACCESS_KEY_ID ??= S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY ??= S3RVER_CREDENTIALS.secretAccessKey;

  try {
    let natsUrl = o.natsUrl;
    let shared = false;
    const probe = await reachable(natsUrl);
    if (probe) {
      await probe.close();
      shared = true;
      say(`NATS      ${natsUrl} (reachable; using a private demo namespace)`);
    } else {
      if (!findNatsServer()) {
        // Exit 3, "cannot connect", with the one line every command gives.
        process.stderr.write(`flants: cannot reach NATS at ${displayUrl(natsUrl)} and nats-server is not installed (install it: sudo apt-get install nats-server, or set NATS_URL to a running server)\n`);
        return 3;
      }
      // Its own process group: a terminal's Ctrl-C reaches the demo, which stops the server last.
      const nats = await startNatsServer({ ownProcessGroup: true });
      teardown.add('stop nats-server and remove its store', () => nats.close());
      natsUrl = nats.url;
      say(`NATS      started nats-server -js at ${natsUrl}`);
    }
    stop.signal.throwIfAborted();
    const namespace = `demo_${randomBytes(3).toString('hex')}`;
    const nc = await connect({ servers: natsUrl });
    teardown.add('close the NATS connection', () => nc.close());
    // A shared server keeps nothing of the demo; a private one goes with its store.
    if (shared) teardown.add(`remove namespace ${namespace}`, () => removeNamespace(nc, namespace));

    const src = await startS3Server(['demo-source']);
    teardown.add('stop the source S3 endpoint', () => src.close());
    const dst = await startS3Server(['demo-dest']);
    teardown.add('stop the destination S3 endpoint', () => dst.close());
    const lambda = await startLocalLambda({ concurrency: 32, timeoutMs: 120_000, logger: o.logger });
    teardown.add('stop the local Lambda endpoint', () => lambda.close());
    say(`S3        source ${src.endpoint}  destination ${dst.endpoint} (s3rver)`);
    say(`Lambda    ${lambda.url} (local Lambda API, worker threads)`);
    stop.signal.throwIfAborted();

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
      FLANTS_LAMBDA_ENDPOINT: lambda.url,
      FLANTS_BATCH_WAIT: '100ms',
      // Free ports unless asked: a port in use (a daemon already running here) must not interrupt the demo.
      FLANTS_DASHBOARD_PORT: process.env.FLANTS_DASHBOARD_PORT ?? '0',
      FLANTS_METRICS_PORT: process.env.FLANTS_METRICS_PORT ?? '0',
    });
    const library = await until(
      writeSyntheticLibrary(makeS3Client({ endpoint: src.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS }), 'demo-source', 'vod/', {
        classes: o.classes,
        renditions: o.renditions,
        segments: o.segments,
        minBytes: 4 * 1024,
        maxBytes: 512 * 1024,
        classIdPrefix: 'demo-class',
      }),
      stop.signal,
    );
    say(`Library   ${library.classIds.length} classes x ${o.renditions} renditions x ${o.segments} segments: ${library.files.length} files, ${mb(library.totalBytes)} MB`);
    const daemon = await startDaemon({ config, logger: o.logger });
    teardown.add('stop the daemon', () => daemon.stop());
    if (daemon.dashboardUrl) say(`Dashboard ${daemon.dashboardUrl}/ (live while the demo runs)`);
    stop.signal.throwIfAborted();

    const t = topology(namespace);
    const sub = nc.subscribe(t.subjects.transferred);
    const js = jetstream(nc);
    const started = Date.now();
    for (const id of library.classIds) await js.publish(t.subjects.recorded, id);
    say(`Triggered ${library.classIds.length} classes on ${t.subjects.recorded}\n`);

    const bars = progressBars(o.out);
    teardown.add('stop the progress bars', () => bars.stop());
    const pending = new Set(library.classIds);
    let reading = false;
    const ticker = setInterval(() => {
      // One reading at a time, and none once the transfer is over.
      if (reading || pending.size === 0 || stop.signal.aborted) return;
      reading = true;
      readSnapshot(nc, t, namespace, { classIds: [...pending] })
        .then((snap) => {
          if (!stop.signal.aborted && !outputClosed) bars.show(snap.classes.filter((c) => pending.has(c.classId)));
        }, (err: unknown) => o.logger.debug({ err }, 'progress snapshot failed'))
        .finally(() => (reading = false));
    }, 500);
    teardown.add('stop the progress ticker', () => clearInterval(ticker));

    const results: ClassTransferred[] = [];
    const deadline = setTimeout(() => sub.unsubscribe(), TRANSFER_DEADLINE_MS);
    const interrupt = () => sub.unsubscribe();
    stop.signal.addEventListener('abort', interrupt, { once: true });
    try {
      for await (const m of sub) {
        const e = m.json<ClassTransferred>();
        if (!pending.delete(e.classId)) continue;
        results.push(e);
        bars.finish(e.classId);
        if (!outputClosed) {
          bars.print(`  ${e.status === 'complete' ? 'OK  ' : 'FAIL'} ${e.classId.padEnd(18)} ${String(e.files).padStart(5)} files ${mb(e.bytes).padStart(8)} MB  report ${e.reportKey}`);
        }
        if (pending.size === 0) break;
      }
    } finally {
      clearTimeout(deadline);
      stop.signal.removeEventListener('abort', interrupt);
    }
    stop.signal.throwIfAborted();
    bars.stop();
    const secs = (Date.now() - started) / 1000;
    const files = results.reduce((n, e) => n + e.files, 0);
    const bytes = results.reduce((n, e) => n + e.bytes, 0);
    const complete = results.filter((e) => e.status === 'complete').length;
    if (pending.size > 0) say(`\nGave up after ${TRANSFER_DEADLINE_MS / 60_000} minutes: no outcome for ${[...pending].join(', ')}`);
    say('');
    say(`Total     ${complete}/${library.classIds.length} classes complete, ${files} files, ${mb(bytes)} MB in ${secs.toFixed(2)} s ` +
      `(${(files / secs).toFixed(0)} files/s, ${mb(bytes / secs)} MB/s), peak RSS ${mb(process.resourceUsage().maxRSS * 1024)} MB`);
    return complete === library.classIds.length ? 0 : 1;
  } catch (err) {
    if (!stop.signal.aborted) throw err;
    await teardown.run();
    const why = String(stop.signal.reason);
    o.notices.write(`\nflants: demo ${why === 'SIGPIPE' ? 'output closed' : `interrupted by ${why}`}; removed everything it had started\n`);
    return INTERRUPTED[why] ?? 143;
  } finally {
    await teardown.run();
    o.out.off('error', onOutputError);
  }
}
