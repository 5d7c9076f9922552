/**
 * The chaos scenario shared by the chaos test (small, in `npm test`) and the
 * soak run (`npm run soak`, large): a library behind a fault-injecting origin,
 * actors split across processes that are killed with SIGKILL at random, the
 * whole daemon killed at once, and nats-server restarted mid-run. It returns
 * what happened and what arrived, for the caller to check.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startLocalLambda } from '../../lambda/local-endpoint.js';
import { topology } from '../../streams/topology.js';
import { distFile } from '../../config/dist-path.js';
import { startFaultOrigin, type FaultRates } from './fault-origin.js';
import { readStoredOutcomes, storedOutcomeCount } from './stored-outcomes.js';
import { buildLibrary, libraryRun, type LibraryRun } from './test-library.js';
import { startNatsServer } from './nats-server.js';
import { S3RVER_CREDENTIALS, startS3Server, type S3Server } from './s3-server.js';

/** How big and how rough the run is. */
export interface ChaosOptions {
  readonly classes: number;
  readonly renditions: number;
  readonly segments: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly rates: FaultRates;
  readonly maxFaultsPerFile: number;
  /** Random SIGKILLs of one actor process, this many ms apart (min, max). */
  readonly killEveryMs: readonly [number, number];
  readonly dispatchers: number;
  readonly timeoutMs: number;
  /** FLANTS_STALL_TIMEOUT for the run: each injected stall costs this long. Too short, and an origin
   * slowed by the load of the run itself counts as stalled. Default 3s. */
  readonly stallTimeout?: string;
  /** FLANTS_ACK_WAIT for the actors; the default when unset. */
  readonly ackWait?: string;
  /** An S3 bucket to copy into (the tests' Ceph RADOS Gateway, say); a private s3rver when unset. */
  readonly dest?: ChaosDest;
  readonly log?: (line: string) => void;
}

/** Where a chaos run copies to. `close()` stops the endpoint when the run started it. */
export interface ChaosDest {
  readonly endpoint: string;
  readonly bucket: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  close?(): Promise<void>;
}

/** What happened. */
export interface ChaosReport extends LibraryRun {
  readonly injected: Record<keyof FaultRates, number>;
  readonly originRequests: number;
  readonly kills: number;
  readonly wholeDaemonKills: number;
  /** From the whole-daemon SIGKILL until every job in flight then was settled again. */
  readonly recoveryMs?: number;
  readonly natsRestarts: number;
  /** Daemons started again after exiting with code 3 (cannot reach NATS), as `restart: on-failure` does. */
  readonly supervisorRestarts: number;
  readonly elapsedMs: number;
  /** The destination, still running: the caller verifies and then closes it. */
  readonly dest: ChaosDest & { close(): Promise<void> };
  readonly destBucket: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long after a nats-server restart a daemon's exit 3 counts as the restart's doing (a start's requests time out in 5 s, and a missing consumer is retried for 15 s). */
const RESTART_GRACE_MS = 25_000;

async function chaosDest(given: ChaosDest | undefined): Promise<ChaosDest & { close(): Promise<void> }> {
  if (given) return { ...given, close: async () => given.close?.() };
  const server: S3Server = await startS3Server(['chaos-dest']);
  return { endpoint: server.endpoint, bucket: 'chaos-dest', credentials: S3RVER_CREDENTIALS, close: () => server.close() };
}

/** Runs the scenario; throws if the classes are not all reported within `timeoutMs`. */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const built = buildLibrary(o);
  const { files, classIds } = built;
  const nats = await startNatsServer();
  const dest = await chaosDest(o.dest);
  const origin = await startFaultOrigin({ files, rates: o.rates, maxFaultsPerFile: o.maxFaultsPerFile });
  const namespace = `chaos_${randomBytes(3).toString('hex')}`;
  const awsEnv: Record<string, string | undefined> = {
    ...process.env,
    AWS_ACCESS_KEY_ID: dest.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: dest.credentials.secretAccessKey,
  };
  const lambda = await startLocalLambda({ concurrency: 64, timeoutMs: 60_000, workers: 2, env: awsEnv });
  const env: Record<string, string | undefined> = {
    ...awsEnv,
    NATS_URL: nats.url,
    FLANTS_NAMESPACE: namespace,
    FLANTS_SOURCE: `${origin.url}/vod/`,
    FLANTS_DEST: `s3://${dest.bucket}/`,
    FLANTS_DEST_ENDPOINT: dest.endpoint,
    FLANTS_LAMBDA: 'local',
    FLANTS_LAMBDA_ENDPOINT: lambda.url,
    // The default ack wait (30 s): killed processes hold their messages until it
    // ends, and the recovery after the whole-daemon kill is measured with it.
    FLANTS_ACK_WAIT: o.ackWait,
    FLANTS_STALL_TIMEOUT: o.stallTimeout ?? '3s',
    FLANTS_RETRY_BACKOFF: '200ms,500ms,1s',
    // Each SIGKILL mid-wave costs its jobs one delivery on top of the injected faults.
    FLANTS_MAX_ATTEMPTS: '8',
    FLANTS_BATCH_SIZE: '50',
    FLANTS_BATCH_WAIT: '50ms',
    FLANTS_WAVE_CONCURRENCY: '8',
    LOG_LEVEL: process.env.FLANTS_CHAOS_LOG ?? 'error',
  };
  const groups = ['scanner,crawler', 'aggregator', ...Array.from({ length: o.dispatchers }, () => 'dispatcher')];
  const cli = fileURLToPath(distFile(import.meta.url, '../../cli.js'));
  const procs: Array<ChildProcess | undefined> = [];
  const killing = new Set<ChildProcess>();
  // Like docker-compose's `restart: on-failure`, for the one failure the run causes: a daemon starting while
  // nats-server restarts exits with code 3 (cannot reach NATS) and is started again, within RESTART_GRACE_MS of the
  // restart and at most as many times as there are processes. Any other exit of its own, or a later exit 3, fails the run by name.
  let crashed: string | undefined;
  let supervisorRestarts = 0;
  let stopping = false;
  let natsRestartedAt = 0;
  const spawnGroup = (i: number) => {
    const child = spawn(process.execPath, [cli, 'daemon', '--actors', groups[i] as string], { env, stdio: ['ignore', 'inherit', 'inherit'] });
    procs[i] = child;
    child.once('exit', (code, signal) => {
      if (killing.has(child) || stopping) return;
      if (code === 3 && natsRestartedAt > 0 && Date.now() - natsRestartedAt < RESTART_GRACE_MS && supervisorRestarts < groups.length) {
        log(`chaos: ${groups[i]} exited 3 (a service unreachable) ${((Date.now() - natsRestartedAt) / 1000).toFixed(1)} s after the nats-server restart; started again`);
        supervisorRestarts++;
        setTimeout(() => !stopping && procs[i] === child && spawnGroup(i), 500);
        return;
      }
      crashed ??= `${groups[i]} exited on its own (code ${code}, signal ${signal})`;
    });
  };
  const killGroup = async (i: number) => {
    const p = procs[i];
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    killing.add(p);
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  };

  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const t = topology(namespace);
  let kills = 0;
  let wholeDaemonKills = 0;
  let natsRestarts = 0;
  const started = Date.now();
  try {
    spawnGroup(0);
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 200 && !(await jsm.streams.info(t.streams.classes).then(() => true, () => false)); i++) await sleep(50);
    for (let i = 1; i < groups.length; i++) spawnGroup(i);
    // The faults start once every actor has its consumer: a run on busy cores must not kill a daemon still starting.
    const consumersOf: Array<readonly [string, string]> = [[t.streams.work, t.consumers.crawler], [t.streams.work, t.consumers.dispatcher], [t.streams.events, t.consumers.aggregator]];
    for (const [stream, c] of consumersOf) {
      while (!(await jsm.consumers.info(stream, c).then(() => true, () => false))) {
        if (crashed) throw new Error(`chaos: ${crashed} before its start`);
        if (Date.now() - started > 60_000) throw new Error(`chaos: consumer ${c} not created within 60 s of the start`);
        await sleep(50);
      }
    }
    const faultsFrom = Date.now();
    const js = jetstream(nc);
    for (const id of classIds) await js.publish(t.subjects.recorded, id);
    log(`chaos: ${files.size} files in ${classIds.length} classes triggered; ${groups.length} actor processes`);

    const reported = () => storedOutcomeCount(jsm, t);
    let nextKill = Date.now() + o.killEveryMs[0];
    // Recovery: from the whole-daemon kill until every transfer job delivered
    // before it has been settled (the dispatcher consumer's ack floor passes it).
    let recovery: { killedAt: number; lastDelivered: number; ms?: number } | undefined;
    let done = 0;
    let nextReport = Date.now() + 5_000;
    while (done < classIds.length) {
      if (Date.now() >= nextReport) {
        nextReport = Date.now() + 5_000;
        const parts: string[] = [];
        for (const [stream, c] of [[t.streams.work, t.consumers.crawler], [t.streams.work, t.consumers.dispatcher], [t.streams.events, t.consumers.aggregator]] as const) {
          const ci = await jsm.consumers.info(stream, c).catch(() => undefined);
          if (ci) parts.push(`${c} pending ${ci.num_pending} unacked ${ci.num_ack_pending} redelivered ${ci.num_redelivered}`);
        }
        log(`chaos: ${done}/${classIds.length} classes reported after ${((Date.now() - started) / 1000).toFixed(0)} s; ${parts.join('; ')}`);
      }
      if (crashed) throw new Error(`chaos: ${crashed}`);
      if (Date.now() - started > o.timeoutMs) throw new Error(`chaos: only ${done}/${classIds.length} classes reported in ${o.timeoutMs} ms`);
      await sleep(100);
      done = Math.max(done, await reported());
      if (recovery && recovery.ms === undefined) {
        const ci = await jsm.consumers.info(t.streams.work, t.consumers.dispatcher).catch(() => undefined);
        if (ci && ci.ack_floor.stream_seq >= recovery.lastDelivered) {
          recovery.ms = Date.now() - recovery.killedAt;
          log(`chaos: every job in flight at the whole-daemon kill was redone ${(recovery.ms / 1000).toFixed(1)} s after it`);
        }
      }
      const progress = done / classIds.length;
      if (natsRestarts === 0 && (progress >= 0.25 || Date.now() - faultsFrom > 4_000)) {
        log('chaos: restarting nats-server');
        natsRestartedAt = Date.now();
        await nats.restart();
        natsRestartedAt = Date.now(); // the grace runs from when it is back: a start can take its whole retry after that
        natsRestarts++;
        continue;
      }
      if (wholeDaemonKills === 0 && natsRestarts > 0 && (progress >= 0.5 || Date.now() - faultsFrom > 8_000)) {
        log('chaos: SIGKILL every actor process at once');
        await Promise.all(groups.map((_, i) => killGroup(i)));
        const ci = await jsm.consumers.info(t.streams.work, t.consumers.dispatcher);
        recovery = { killedAt: Date.now(), lastDelivered: ci.delivered.stream_seq };
        wholeDaemonKills++;
        await sleep(300);
        groups.forEach((_, i) => spawnGroup(i));
        continue;
      }
      // Single kills pause while the whole-daemon kill's recovery is measured, so that the figure is that recovery's.
      const measuring = recovery !== undefined && recovery.ms === undefined;
      if (Date.now() >= nextKill && !measuring) {
        const i = Math.floor(Math.random() * groups.length);
        log(`chaos: SIGKILL ${groups[i]}`);
        await killGroup(i);
        kills++;
        await sleep(200 + Math.random() * 300);
        spawnGroup(i);
        nextKill = Date.now() + o.killEveryMs[0] + Math.random() * (o.killEveryMs[1] - o.killEveryMs[0]);
      }
    }
    // Everything was reported, so every job in flight at the kill was settled by now at the latest.
    if (recovery && recovery.ms === undefined) recovery.ms = Date.now() - recovery.killedAt;
    await sleep(2_000); // room for a duplicate outcome to show up
    const transferredInStream = await reported();
    const outcomes = await readStoredOutcomes(nc, jsm, t, transferredInStream);
    if (crashed) throw new Error(`chaos: ${crashed}`);
    return {
      ...libraryRun(built, outcomes, transferredInStream),
      injected: origin.injected,
      originRequests: origin.requests(),
      kills,
      wholeDaemonKills,
      recoveryMs: recovery?.ms,
      natsRestarts,
      supervisorRestarts,
      elapsedMs: Date.now() - started,
      dest,
      destBucket: dest.bucket,
    };
  } catch (err) {
    await dest.close();
    throw err;
  } finally {
    stopping = true;
    for (const p of procs) if (p && p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p && p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    await nc.close().catch(() => undefined);
    await Promise.all([lambda.close(), origin.close()]);
    await nats.close();
  }
}
