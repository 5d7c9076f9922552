/**
 * A library through a fleet: several flants processes (whole daemons or split
 * actors) on one stream, on one nats-server or on a real three-node JetStream
 * cluster with every stream and bucket at three replicas. On the cluster it
 * can SIGKILL the node leading the work stream mid-transfer, start it again,
 * and then restart every node in turn. Shared by the fleet tests (small) and
 * the scale-out benchmark; the caller checks what arrived.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { distFile } from '../../config/dist-path.js';
import { FLEET_RENEW_MS, type FleetMember } from '../../observability/fleet-presence.js';
import { startLocalLambda } from '../../lambda/local-endpoint.js';
import { stages, topology, type Topology } from '../../streams/topology.js';
import type { ChaosDest } from './chaos-run.js';
import { startFaultOrigin } from './fault-origin.js';
import { startNatsCluster, type NatsCluster } from './nats-cluster.js';
import { startNatsServer, type NatsServer } from './nats-server.js';
import { readStoredOutcomes, storedOutcomeCount } from './stored-outcomes.js';
import { buildLibrary, libraryRun, type LibraryRun, type TestLibrarySpec } from './test-library.js';

/** What to run and what to break. */
export interface FleetOptions {
  readonly library: TestLibrarySpec;
  /** One process per entry: `all` for a whole daemon, or an `--actors` list such as `scanner,crawler`. */
  readonly processes: readonly string[];
  /** A three-node cluster with FLANTS_STREAM_REPLICAS=3 instead of one server. */
  readonly cluster: boolean;
  /** On the cluster: SIGKILL the work stream's leader this long after the trigger, start it `downMs` later, then restart each node in turn. */
  readonly nodeFaults?: { readonly killLeaderAfterMs: number; readonly downMs: number; readonly rollingRestart: boolean };
  /** Milliseconds the origin waits before each segment answer. */
  readonly originLatencyMs?: number;
  readonly dest: ChaosDest;
  readonly timeoutMs: number;
  /** Extra environment for every flants process. */
  readonly env?: Record<string, string>;
  readonly log?: (line: string) => void;
}

/** What happened. */
export interface FleetReport extends LibraryRun {
  /** From the trigger to the last class reported. */
  readonly elapsedMs: number;
  /** Stream and consumer leader elections after the first node fault, from the server's advisories. */
  readonly leaderChanges: { streams: number; consumers: number };
  /** Deliveries to the dispatchers beyond one per job: redeliveries. */
  readonly redelivered: number;
  /** Node events with their time since the trigger, for the log and the closing figures. */
  readonly events: string[];
  /** The fleet as `flants status --json` shows it once every class is reported. */
  readonly fleet: FleetMember[];
  /** Replicas of the class-state bucket as the server has it. */
  readonly stateReplicas: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Each stage's backlog in one line, for progress logs and timeouts. */
async function queueStates(jsm: JetStreamManager, t: Topology, detailed = false): Promise<string> {
  const parts: string[] = [];
  for (const [stage, stream, consumer] of stages(t)) {
    const ci = await jsm.consumers.info(stream, consumer).catch(() => undefined);
    // Detailed when a run is stuck: whether a consumer's state is ahead of its stream, or its leader's replica behind.
    const more = ci && detailed ? ` (delivered to seq ${ci.delivered.stream_seq}, ack floor ${ci.ack_floor.stream_seq}, leader ${ci.cluster?.leader ?? '?'})` : '';
    parts.push(ci ? `${stage} ${ci.num_pending} pending/${ci.num_ack_pending} unacked/${ci.num_redelivered} redelivered${more}` : `${stage} ?`);
  }
  for (const stream of [t.streams.work, t.streams.events]) {
    const si = await jsm.streams.info(stream).catch(() => undefined);
    const replicas = si && detailed ? `; leader ${si.cluster?.leader ?? '?'}, ${(si.cluster?.replicas ?? []).map((r) => `${r.name}${r.current ? ' current' : ` ${r.lag ?? '?'} behind`}`).join('/')}` : '';
    if (si) parts.push(`${stream} ${si.state.messages} messages (seq ${si.state.first_seq}..${si.state.last_seq}${replicas})`);
  }
  return parts.join(', ');
}

/** Runs the fleet; throws if the classes are not all reported within `timeoutMs`. */
export async function runFleet(o: FleetOptions): Promise<FleetReport> {
  const log = o.log ?? (() => undefined);
  const built = buildLibrary(o.library, 'fleet');
  const { files, classIds } = built;
  let cluster: NatsCluster | undefined;
  let single: NatsServer | undefined;
  if (o.cluster) cluster = await startNatsCluster();
  else single = await startNatsServer();
  const natsUrl = cluster?.url ?? (single as NatsServer).url;
  const origin = await startFaultOrigin({ files, rates: { status5xx: 0, reset: 0, stall: 0, truncate: 0 }, maxFaultsPerFile: 0, latencyMs: o.originLatencyMs });
  const namespace = `fleet_${randomBytes(3).toString('hex')}`;
  const awsEnv: Record<string, string | undefined> = {
    ...process.env,
    AWS_ACCESS_KEY_ID: o.dest.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: o.dest.credentials.secretAccessKey,
  };
  const lambda = await startLocalLambda({ concurrency: 32, timeoutMs: 60_000, workers: 2, env: awsEnv });
  const env: Record<string, string | undefined> = {
    ...awsEnv,
    NATS_URL: natsUrl,
    FLANTS_NAMESPACE: namespace,
    FLANTS_STREAM_REPLICAS: o.cluster ? '3' : '1',
    FLANTS_SOURCE: `${origin.url}/vod/`,
    FLANTS_DEST: `s3://${o.dest.bucket}/`,
    FLANTS_DEST_ENDPOINT: o.dest.endpoint,
    FLANTS_LAMBDA: 'local',
    FLANTS_LAMBDA_ENDPOINT: lambda.url,
    FLANTS_BATCH_SIZE: '50',
    FLANTS_BATCH_WAIT: '50ms',
    FLANTS_WAVE_CONCURRENCY: '4',
    FLANTS_DASHBOARD_PORT: '0',
    FLANTS_METRICS_PORT: '0',
    LOG_LEVEL: process.env.FLANTS_FLEET_LOG ?? 'error',
    ...o.env,
  };
  const cli = fileURLToPath(distFile(import.meta.url, '../../cli.js'));
  const procs: ChildProcess[] = [];
  const t = topology(namespace);
  const nc = await connect({ servers: natsUrl.split(','), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const events: string[] = [];
  let faulted = false;
  let stopping = false;
  let faults: Promise<void> | undefined;
  const died: string[] = [];
  const leaderChanges = { streams: 0, consumers: 0 };
  // Leader elections of this run's streams and consumers, as the cluster announces them.
  const advisories = nc.subscribe('$JS.EVENT.ADVISORY.*.LEADER_ELECTED.>', {
    callback: (_err, m) => {
      if (!faulted || !m.subject.includes(namespace)) return;
      if (m.subject.includes('.STREAM.')) leaderChanges.streams++;
      else leaderChanges.consumers++;
    },
  });
  try {
    const spawnProcess = (actors: string) => {
      const args = [cli, 'daemon', ...(actors === 'all' ? [] : ['--actors', actors])];
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
      // No process may die of what the cluster goes through.
      child.once('exit', (code, signal) => {
        if (!stopping) died.push(`${actors} (pid ${child.pid}) exited with ${signal ?? `code ${code}`}`);
      });
      procs.push(child);
    };
    // The first process creates the topology; the rest find it in place.
    spawnProcess(o.processes[0] ?? 'all');
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 300 && (await storedOutcomeCount(jsm, t)) < 0; i++) await sleep(100);
    for (const p of o.processes.slice(1)) spawnProcess(p);
    await sleep(1_000); // every process has its consumers bound before the trigger
    const js = jetstream(nc);
    for (const id of classIds) await js.publish(t.subjects.recorded, id);
    const started = Date.now();
    const at = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
    const event = (line: string) => {
      events.push(`${at()}: ${line}`);
      log(`fleet: ${at()}: ${line}`);
    };
    log(`fleet: ${files.size} files in ${classIds.length} classes triggered; processes ${o.processes.join(' | ')}; ${o.cluster ? '3-node cluster, replicas 3' : 'one nats-server'}`);

    // Node faults run beside the transfer, in order; each step first checks that the run still goes on.
    faults = (async () => {
      const f = o.nodeFaults;
      if (!cluster || !f) return;
      await sleep(f.killLeaderAfterMs);
      const leader = await cluster.leaderOf(t.streams.work);
      if (!leader) throw new Error('the work stream had no leader to kill');
      faulted = true;
      await cluster.kill(leader, true);
      event(`SIGKILL ${leader}, the work stream's leader`);
      await sleep(f.downMs);
      if (stopping) return;
      await cluster.start(leader);
      await cluster.ready();
      event(`${leader} started again; the work stream is now led by ${await cluster.leaderOf(t.streams.work)}`);
      if (!f.rollingRestart) return;
      for (const node of cluster.nodes) {
        if (stopping) return;
        await cluster.kill(node.name);
        event(`rolling restart: ${node.name} stopped`);
        await sleep(1_000);
        if (stopping) return;
        await cluster.start(node.name);
        await cluster.ready();
        // The next node goes only once every replicated stream of the run has a leader and current replicas again.
        // Returns what is still behind, empty once every stream has a leader and current replicas.
        const behind = async () => {
          const lagging: string[] = [];
          for await (const info of jsm.streams.list()) {
            if (!info.config.name.includes(namespace) || info.config.num_replicas < 2) continue;
            if (!info.cluster?.leader) lagging.push(`${info.config.name} has no leader`);
            for (const r of info.cluster?.replicas ?? []) {
              if (!r.current || r.offline) lagging.push(`${info.config.name} on ${r.name} ${r.offline ? 'offline' : `${r.lag ?? '?'} behind`}`);
            }
          }
          return lagging;
        };
        let lagging: string[] = ['not asked yet'];
        for (const until = Date.now() + 30_000; Date.now() < until && !stopping; await sleep(250)) {
          lagging = await behind().catch((err: unknown) => [String(err)]);
          if (lagging.length === 0) break;
        }
        // A replica that does not catch up is the server's to explain: noted, and the restart goes on, as an operator's would.
        event(lagging.length ? `rolling restart: ${node.name} back; after 30 s still behind: ${lagging.join(', ')}` : `rolling restart: ${node.name} back and current`);
      }
    })();
    let faultError: unknown;
    let faultsDone = false;
    faults.then(() => (faultsDone = true), (err) => ((faultError = err), (faultsDone = true)));

    let done = 0;
    let nextReport = Date.now() + 5_000;
    while (done < classIds.length || !faultsDone) {
      if (faultError) throw faultError;
      if (died.length) throw new Error(`fleet: ${died.join('; ')}`);
      if (Date.now() - started > o.timeoutMs) {
        const status = spawnSync(process.execPath, [cli, 'status', '--json'], { env, encoding: 'utf8', timeout: 30_000 });
        const open = ((JSON.parse(status.stdout || '{}') as { classes?: Array<{ classId: string; status: string; done: number; failed: number; total: number | null }> }).classes ?? [])
          .filter((c) => c.status !== 'complete')
          .map((c) => `${c.classId} ${c.status} ${c.done}+${c.failed}/${c.total}`);
        throw new Error(`fleet: only ${done}/${classIds.length} classes reported in ${o.timeoutMs} ms; ${await queueStates(jsm, t, true)}; unreported: ${open.join(', ')}`);
      }
      if (Date.now() >= nextReport) {
        nextReport = Date.now() + 5_000;
        log(`fleet: ${done}/${classIds.length} classes reported after ${at()}; ${await queueStates(jsm, t)}`);
      }
      await sleep(100);
      done = Math.max(done, await storedOutcomeCount(jsm, t));
      if (done === classIds.length && !events.some((e) => e.includes('every class reported'))) event('every class reported');
    }
    if (faultError) throw faultError;
    if (died.length) throw new Error(`fleet: ${died.join('; ')}`);
    const elapsedMs = Number.parseFloat(events.find((e) => e.includes('every class reported'))?.split(' s:')[0] ?? '0') * 1000;
    // Room for a duplicate outcome to show up, and for every process to renew its fleet record.
    await sleep(FLEET_RENEW_MS + 1_000);
    // Presence records are renewed every FLEET_RENEW_MS. Right after a rolling restart the bucket can refuse
    // writes for a while (seen on 2.9.10 under load: a view a renewal behind, once an empty one), so the view
    // is read until it holds every process and every acked job, for up to 30 s more, and the wait is logged.
    const readStatus = (): FleetMember[] => {
      const status = spawnSync(process.execPath, [cli, 'status', '--json'], { env, encoding: 'utf8', timeout: 30_000 });
      if (!status.stdout) log(`fleet: flants status printed nothing (exit ${status.status}): ${status.stderr}`);
      const shown = JSON.parse(status.stdout || '{}') as { fleet?: FleetMember[]; fleetError?: string };
      if (shown.fleetError) log(`fleet: ${shown.fleetError}`);
      return shown.fleet ?? [];
    };
    const whole = (f: FleetMember[]) =>
      f.length === o.processes.length && f.reduce((n, m) => n + (m.actors.dispatcher?.acked ?? 0), 0) >= files.size;
    const viewFrom = Date.now();
    let fleet = readStatus();
    for (const until = viewFrom + 30_000; !whole(fleet) && Date.now() < until; fleet = readStatus()) await sleep(2_000);
    if (Date.now() - viewFrom > 1_000) {
      log(`fleet: the fleet view read for ${((Date.now() - viewFrom) / 1000).toFixed(1)} s; ${whole(fleet) ? 'it then held every process and job' : 'it never held every process and job'}`);
    }
    if (!whole(fleet)) {
      // What the bucket holds and who leads it: tells records never renewed from a view read wrong.
      const bucket = await jsm.streams.info(`KV_${t.kv.fleet}`).catch(async (err: unknown) => {
        // Whether the cluster lists the bucket at all: a lost stream assignment, or one it cannot answer for.
        const names: string[] = [];
        for await (const n of jsm.streams.names()) if (n.includes(namespace)) names.push(n);
        return `${String(err)}; the cluster lists ${names.join(', ') || 'no stream of this run'}`;
      });
      const where = typeof bucket === 'string' ? bucket : `leader ${bucket.cluster?.leader ?? 'none'}, replicas ${(bucket.cluster?.replicas ?? []).map((r) => `${r.name}${r.current ? '' : ` ${r.lag ?? '?'} behind`}${r.offline ? ' offline' : ''}`).join('/')}, last seq ${bucket.state.last_seq}, last write ${((Date.now() - Date.parse(bucket.state.last_ts)) / 1000).toFixed(0)} s ago, ${bucket.state.messages} records`;
      log(`fleet: presence bucket: ${where}; records: ${fleet.map((m) => `${m.id} seen ${((Date.now() - Date.parse(m.seenAt)) / 1000).toFixed(0)} s ago`).join(', ') || 'none'}`);
    }
    const transferredInStream = await storedOutcomeCount(jsm, t);
    const stateReplicas = (await jsm.streams.info(`KV_${t.kv.classes}`)).config.num_replicas;
    let deliveries = 0;
    for (const c of [t.consumers.dispatcher, t.consumers.dispatcherBulk]) {
      deliveries += (await jsm.consumers.info(t.streams.work, c).catch(() => undefined))?.delivered.consumer_seq ?? 0;
    }
    return {
      ...libraryRun(built, await readStoredOutcomes(nc, jsm, t, transferredInStream), transferredInStream),
      elapsedMs,
      leaderChanges,
      redelivered: Math.max(0, deliveries - files.size),
      events,
      fleet,
      stateReplicas,
    };
  } finally {
    stopping = true;
    // A fault step in progress ends before the cluster goes: it would start a node in a removed dir.
    await faults?.catch(() => undefined);
    advisories.unsubscribe();
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    await nc.close().catch(() => undefined);
    await Promise.all([lambda.close(), origin.close()]);
    await (cluster ?? single)?.close();
  }
}
