/**
 * The pipeline benchmarks behind `npm run bench`: S3 → S3 end to end against
 * rclone on the same endpoints, the control plane with a no-op copier, and
 * wave efficiency against a Lambda that simulates per-file latency. Actors
 * run as separate `flants daemon` processes, measured from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startLocalLambda } from '../../lambda/local-endpoint.js';
import { distFile } from '../../config/dist-path.js';
import { startNatsCluster, type NatsCluster } from '../local/nats-cluster.js';
import { startNatsServer, type NatsServer } from '../local/nats-server.js';
import { S3RVER_CREDENTIALS, startS3Server, startS3ServerProcess } from '../local/s3-server.js';
import { writeSyntheticLibrary } from '../local/synthetic-library.js';
import { makeS3Client } from '../../storage/s3-client.js';
import type { ClassTransferred } from '../../streams/messages.js';
import { topology } from '../../streams/topology.js';
import { startCephRgw } from '../local/ceph-rgw.js';
import { breakdownOf, formatBreakdown, topFunctions } from './cpu-breakdown.js';
import { rcloneCopy, rcloneEnv } from './rclone.js';
import { procStats } from './proc-stats.js';

const cli = fileURLToPath(distFile(import.meta.url, '../../cli.js'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Local s3rver endpoints need checksums only where required (see README); benchmarks only.
const LOCAL_S3_ENV = {
  AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

interface Actor {
  readonly name: string;
  readonly child: ChildProcess;
  peak: { cpuSeconds: number; peakRssMb: number };
}

function spawnActors(groups: readonly string[], env: Record<string, string | undefined>, nodeArgs: readonly string[] = []): Actor[] {
  return groups.map((g) => ({
    name: g,
    child: spawn(process.execPath, [...nodeArgs, cli, 'daemon', '--actors', g], { env: { ...process.env, ...LOCAL_S3_ENV, LOG_LEVEL: 'error', FLANTS_DASHBOARD_PORT: '0', FLANTS_METRICS_PORT: '0', ...env }, stdio: ['ignore', 'inherit', 'inherit'] }),
    peak: { cpuSeconds: 0, peakRssMb: 0 },
  }));
}

/** Samples each actor's CPU and memory; throws when one has died, rather than waiting out the timeout. */
function sampleActors(actors: Actor[]): void {
  for (const a of actors) {
    if (a.child.exitCode !== null) throw new Error(`actor process ${a.name} exited with code ${a.child.exitCode}`);
    a.peak = procStats(a.child.pid);
  }
}

async function stopActors(actors: Actor[]): Promise<void> {
  for (const a of actors) a.peak = procStats(a.child.pid);
  await Promise.all(actors.map((a) => new Promise((r) => (a.child.exitCode !== null ? r(undefined) : (a.child.once('exit', r), a.child.kill('SIGTERM'))))));
}

/** Bytes under a directory (files only); 0 once it is gone. */
function dirBytes(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else total += statSync(p, { throwIfNoEntry: false })?.size ?? 0;
    }
  };
  try {
    walk(dir);
  } catch {
    // Files come and go while the server compacts: the next sample counts them.
  }
  return total;
}

/** The NATS side of a benchmark: one server or a cluster, with its processes' CPU and peak RSS. */
interface NatsNodes {
  readonly url: string;
  /** Store directories, one per node. */
  readonly storeDirs: readonly string[];
  /** CPU seconds summed over the nodes; peak RSS of the largest node. */
  stats(): { cpuSeconds: number; peakRssMb: number };
  close(): Promise<void>;
}

function singleNode(server: NatsServer): NatsNodes {
  return { url: server.url, storeDirs: [server.storeDir], stats: () => procStats(server.pid), close: () => server.close() };
}

function clusterNodes(cluster: NatsCluster): NatsNodes {
  const last = new Map<string, { cpuSeconds: number; peakRssMb: number }>();
  return {
    url: cluster.url,
    storeDirs: cluster.nodes.map((n) => n.storeDir),
    stats: () => {
      // A node's figures are kept from its last reading, should it be gone by the time of the next.
      for (const n of cluster.nodes) if (n.pid) last.set(n.name, procStats(n.pid));
      const all = [...last.values()];
      return { cpuSeconds: all.reduce((a, s) => a + s.cpuSeconds, 0), peakRssMb: Math.max(0, ...all.map((s) => s.peakRssMb)) };
    },
    close: () => cluster.close(),
  };
}

/** Triggers every class and waits until each is reported; returns the seconds it took. */
async function transfer(
  nc: NatsConnection,
  namespace: string,
  classIds: readonly string[],
  sample: () => void,
  timeoutMs: number,
  /** `bulk`: triggers as a library scan sends them. `late`: a live trigger of this class once half the classes are reported. */
  o: { lane?: 'bulk'; late?: string; onStarted?: () => void } = {},
): Promise<{ seconds: number; outcomes: ClassTransferred[]; lateSeconds?: number }> {
  const t = topology(namespace);
  const outcomes: ClassTransferred[] = [];
  let lateAt: number | undefined;
  let lateSeconds: number | undefined;
  const sub = nc.subscribe(t.subjects.transferred, {
    callback: (_e, m) => {
      const e = m.json<ClassTransferred>();
      if (e.classId === o.late && lateAt) lateSeconds = (Date.now() - lateAt) / 1000;
      else outcomes.push(e);
    },
  });
  const js = jetstream(nc);
  const subject = o.lane === 'bulk' ? t.subjects.recordedBulk : t.subjects.recorded;
  for (let i = 0; i < 200; i++) {
    if (await js.publish(subject, classIds[0] as string).then(() => true, () => false)) break;
    await sleep(100); // the daemons are still creating their streams
  }
  const started = Date.now();
  o.onStarted?.();
  for (const id of classIds.slice(1)) await js.publish(subject, id);
  while (outcomes.length < classIds.length || (lateAt !== undefined && lateSeconds === undefined)) {
    if (o.late && lateAt === undefined && outcomes.length >= classIds.length / 2) {
      lateAt = Date.now();
      await js.publish(t.subjects.recorded, o.late);
    }
    if (Date.now() - started > timeoutMs) throw new Error(`only ${outcomes.length}/${classIds.length} classes reported in ${timeoutMs} ms`);
    sample();
    await sleep(200);
  }
  sub.unsubscribe();
  return { seconds: (Date.now() - started) / 1000, outcomes, lateSeconds };
}

/** One round's figures: wall time and CPU of every process involved. */
interface CopyRound {
  seconds: number;
  filesPerSecond: number;
  mbPerSecond: number;
  /** The copier's own CPU: flants daemon + Lambda workers + nats-server, or rclone. */
  copierCpuSeconds: number;
  /** The copier's CPU per file copied, in milliseconds. */
  cpuMsPerFile: number;
  serverCpuSeconds: number;
}

/** The local Lambda endpoint in a process of its own (dev/bench/lambda-process.ts). */
async function spawnLambdaProcess(options: Record<string, unknown>, env: Record<string, string | undefined>, nodeArgs: string[] = []) {
  const child = spawn(process.execPath, [...nodeArgs, fileURLToPath(distFile(import.meta.url, './lambda-process.js')), JSON.stringify(options)], {
    env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`local Lambda process exited with code ${code}`)));
    child.on('message', (m: { url?: string }) => m.url && resolve(m.url));
  });
  const pid = child.pid as number;
  return {
    url,
    pid,
    stats: () =>
      new Promise<{ invocations: number; workers: number }>((resolve) => {
        const on = (m: { stats?: { invocations: number; workers: number } }) => m.stats && (child.off('message', on), resolve(m.stats));
        child.on('message', on);
        child.send('stats');
      }),
    close: () => new Promise<void>((r) => (child.exitCode !== null ? r() : (child.once('exit', () => r()), child.kill('SIGTERM')))),
  };
}

/**
 * End to end, S3 to S3: flants (daemon + local Lambda) against rclone on the
 * same two endpoints. They alternate for `rounds` rounds (rclone first in odd
 * rounds, flants first in even ones), each into a fresh prefix; every round is
 * reported. CPU counts from the triggers on, as a long-running daemon and a
 * warm Lambda spend it: the daemon's start-up and the local endpoint's worker
 * threads starting (AWS's cold starts, in production) are reported apart.
 * With `profileDir`, one more flants round runs under `--cpu-prof` and the
 * breakdown per stage is returned.
 */
export async function e2eBenchmark(o: { classes: number; renditions: number; segments: number; rounds?: number; s3?: 's3rver' | 'rgw'; profileDir?: string; flantsEnv?: Record<string, string>; lambdaWorkers?: number }) {
  const nats = await startNatsServer();
  // s3rver: each endpoint in its own process, its CPU measured apart. RGW: one real S3 (Ceph) holding both buckets.
  const { src, dst, credentials, serverCpu, closeServers } = await (async () => {
    if (o.s3 === 'rgw') {
      const rgw = await startCephRgw();
      await rgw.createBucket('bench-src');
      await rgw.createBucket('bench-dst');
      const end = { endpoint: rgw.endpoint };
      return {
        src: end,
        dst: end,
        credentials: { accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey },
        serverCpu: () => Object.values(rgw.pids).reduce((n, pid) => n + procStats(pid).cpuSeconds, 0),
        closeServers: () => rgw.close(),
      };
    }
    const [a, b] = await Promise.all([startS3ServerProcess(['bench-src']), startS3ServerProcess(['bench-dst'])]);
    return {
      src: a,
      dst: b,
      credentials: S3RVER_CREDENTIALS,
      serverCpu: () => procStats(a.pid).cpuSeconds + procStats(b.pid).cpuSeconds,
      closeServers: async () => void (await Promise.all([a.close(), b.close()])),
    };
  })();
  const keys = {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    FLANTS_SOURCE_ACCESS_KEY_ID: credentials.accessKeyId,
    FLANTS_SOURCE_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  };
  // The local endpoint runs each invocation on a worker thread, as AWS runs each on its own vCPU. On these
  // 2 cores, 16 waves of 16 files on 16 threads cost 30-40 % more CPU per file than 2 waves of 32 files on
  // 2 threads (measured: 3.9-4.9 against 2.6-3.4 ms per file on s3rver), so the copy runs as many waves as cores.
  const lambdaOptions = { concurrency: 64, timeoutMs: 300_000, workers: o.lambdaWorkers ?? 2 };
  const waveSettings = { FLANTS_WAVE_CONCURRENCY: String(lambdaOptions.workers), FLANTS_FILE_CONCURRENCY: '32' };
  const lambdaEnv = { ...process.env, ...LOCAL_S3_ENV, ...keys };
  const lambda = await spawnLambdaProcess(lambdaOptions, lambdaEnv);
  const nc = await connect({ servers: nats.url });
  try {
    const lib = await writeSyntheticLibrary(
      makeS3Client({ endpoint: src.endpoint, region: 'us-east-1', forcePathStyle: true, credentials }),
      'bench-src', 'lib/', { ...o, minBytes: 50_000, maxBytes: 2_000_000, skew: 6 }, 32,
    );
    // Its warm workers have started by now: what that cost is reported, not counted in any round.
    const lambdaWarmupCpuSeconds = procStats(lambda.pid).cpuSeconds;
    const flantsRound = async (round: number, profile?: { dir: string; lambdaUrl: string; lambdaPid: number }) => {
      const actors = spawnActors(['scanner,crawler,dispatcher,aggregator'], {
        NATS_URL: nats.url, FLANTS_NAMESPACE: `bench${round}`, FLANTS_SOURCE: 's3://bench-src/lib/', FLANTS_SOURCE_ENDPOINT: src.endpoint,
        FLANTS_SOURCE_ACCESS_KEY_ID: credentials.accessKeyId, FLANTS_SOURCE_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        FLANTS_DEST: `s3://bench-dst/flants${round}/`, FLANTS_DEST_ENDPOINT: dst.endpoint, FLANTS_LAMBDA_ENDPOINT: profile?.lambdaUrl ?? lambda.url,
        ...waveSettings,
        ...o.flantsEnv,
      }, profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profile.dir, 'daemon')}`] : []);
      const lambdaPid = profile?.lambdaPid ?? lambda.pid;
      let at0 = { daemon: 0, lambda: 0, nats: 0, servers: 0, hrUs: 0 };
      const onStarted = () => {
        at0 = {
          daemon: procStats(actors[0]?.child.pid).cpuSeconds,
          lambda: procStats(lambdaPid).cpuSeconds,
          nats: procStats(nats.pid).cpuSeconds,
          servers: serverCpu(),
          hrUs: Number(process.hrtime.bigint() / 1000n),
        };
      };
      const invocations0 = profile ? 0 : (await lambda.stats()).invocations;
      const run = await transfer(nc, `bench${round}`, lib.classIds, () => sampleActors(actors), 30 * 60_000, { onStarted });
      const toUs = Number(process.hrtime.bigint() / 1000n);
      const lambdaCpuSeconds = procStats(lambdaPid).cpuSeconds - at0.lambda;
      const serverCpuSeconds = serverCpu() - at0.servers;
      const natsCpuSeconds = procStats(nats.pid).cpuSeconds - at0.nats;
      const invocations = profile ? 0 : (await lambda.stats()).invocations - invocations0;
      await stopActors(actors);
      const daemon = actors[0]?.peak ?? { cpuSeconds: 0, peakRssMb: 0 };
      const daemonCpuSeconds = daemon.cpuSeconds - at0.daemon;
      const files = run.outcomes.reduce((n, e) => n + e.files, 0);
      const bytes = run.outcomes.reduce((n, e) => n + e.bytes, 0);
      if (files !== lib.files.length || run.outcomes.some((e) => e.status !== 'complete')) {
        throw new Error(`flants round ${round}: ${files}/${lib.files.length} files, statuses ${run.outcomes.map((e) => e.status).join(',')}`);
      }
      const copierCpuSeconds = daemonCpuSeconds + lambdaCpuSeconds + natsCpuSeconds;
      return {
        round, seconds: run.seconds, filesPerSecond: files / run.seconds, mbPerSecond: bytes / 1e6 / run.seconds,
        copierCpuSeconds, cpuMsPerFile: (copierCpuSeconds * 1000) / files, serverCpuSeconds,
        daemonCpuSeconds, daemonStartCpuSeconds: at0.daemon, lambdaCpuSeconds, natsCpuSeconds, invocations, daemonPeakRssMb: daemon.peakRssMb,
        files, bytes, window: { fromUs: at0.hrUs, toUs },
      };
    };
    // rclone, as the issue asks: --transfers 32 --checkers 16 --fast-list (s3rver needs --fast-list).
    const rcloneEnvironment = rcloneEnv(process.env, src.endpoint, dst.endpoint, credentials);
    const rcloneRound = async (round: number) => {
      const servers0 = serverCpu();
      const r = await rcloneCopy(rcloneEnvironment, 'src:bench-src/lib', `dst:bench-dst/rclone${round}`);
      return {
        round, seconds: r.seconds, filesPerSecond: lib.files.length / r.seconds, mbPerSecond: lib.totalBytes / 1e6 / r.seconds,
        copierCpuSeconds: r.cpuSeconds, cpuMsPerFile: (r.cpuSeconds * 1000) / lib.files.length, serverCpuSeconds: serverCpu() - servers0, peakRssMb: r.peakRssMb,
      };
    };
    const flantsRounds: Array<Awaited<ReturnType<typeof flantsRound>>> = [];
    const rcloneRounds: Array<Awaited<ReturnType<typeof rcloneRound>>> = [];
    // The order alternates too: whoever goes first meets the servers still
    // writing the freshly generated library back to disk.
    for (let round = 1; round <= (o.rounds ?? 3); round++) {
      if (round % 2 === 1) {
        rcloneRounds.push(await rcloneRound(round));
        flantsRounds.push(await flantsRound(round));
      } else {
        flantsRounds.push(await flantsRound(round));
        rcloneRounds.push(await rcloneRound(round));
      }
    }
    let profile: { daemon: string[][]; lambda: string[][]; daemonTop: string[][]; lambdaTop: string[][]; files: number } | undefined;
    if (o.profileDir) {
      // Profiling slows the copy: its round is for the breakdown only, never for the figures above.
      const profiled = await spawnLambdaProcess(lambdaOptions, lambdaEnv, ['--cpu-prof', `--cpu-prof-dir=${join(o.profileDir, 'lambda')}`]);
      try {
        const r = await flantsRound(o.rounds ? o.rounds + 1 : 4, { dir: o.profileDir, lambdaUrl: profiled.url, lambdaPid: profiled.pid });
        await profiled.close();
        const daemon = breakdownOf(join(o.profileDir, 'daemon'), r.window);
        const lambdaProfile = breakdownOf(join(o.profileDir, 'lambda'), r.window);
        profile = {
          files: r.files,
          daemon: formatBreakdown(daemon, r.files),
          lambda: formatBreakdown(lambdaProfile, r.files),
          daemonTop: topFunctions(daemon),
          lambdaTop: topFunctions(lambdaProfile),
        };
      } finally {
        await profiled.close();
      }
    }
    const pairs = flantsRounds.map((f, i) => {
      const r = rcloneRounds[i] as (typeof rcloneRounds)[number];
      return { round: f.round, ratio: f.filesPerSecond / r.filesPerSecond, cpuRatio: f.cpuMsPerFile / r.cpuMsPerFile };
    });
    return {
      files: lib.files.length, bytes: lib.totalBytes, flantsRounds, rcloneRounds, pairs,
      worstRatio: Math.min(...pairs.map((p) => p.ratio)),
      lambdaWarmupCpuSeconds,
      lambdaWorkers: lambdaOptions.workers,
      profile,
    };
  } finally {
    await nc.close();
    await lambda.close();
    await Promise.all([closeServers(), nats.close()]);
  }
}

/**
 * Serves every class's playlists, built on request; segments are never fetched.
 * Without `renditions`, a class is one media playlist (`<id>/index.m3u8`);
 * with them, a master (`<id>/master.m3u8`) over that many media playlists.
 */
async function playlistOrigin(segments: number, renditions?: number) {
  const media = () => {
    const lines = ['#EXTM3U', '#EXT-X-TARGETDURATION:2', '#EXT-X-PLAYLIST-TYPE:VOD'];
    for (let i = 0; i < segments; i++) lines.push('#EXTINF:2,', `s${i}.ts`);
    lines.push('#EXT-X-ENDLIST', '');
    return lines.join('\n');
  };
  const master = () => {
    const lines = ['#EXTM3U'];
    for (let r = 0; r < (renditions ?? 0); r++) lines.push(`#EXT-X-STREAM-INF:BANDWIDTH=${(r + 1) * 200_000}`, `r${r}/index.m3u8`);
    return `${lines.join('\n')}\n`;
  };
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    const body = renditions
      ? /^\/vod\/[^/]+\/master\.m3u8$/.test(url) ? master() : /^\/vod\/[^/]+\/r\d+\/index\.m3u8$/.test(url) ? media() : undefined
      : /^\/vod\/[^/]+\/index\.m3u8$/.test(url) ? media() : undefined;
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

/** Control plane: jobs through every actor with a Lambda that answers success without I/O. */
export async function controlPlaneBenchmark(o: {
  classes: number;
  segments: number;
  mode?: 'noop' | { simulateMs: readonly [number, number] };
  concurrency?: number;
  waveConcurrency?: number;
  fileConcurrency?: number;
  /** NODE_OPTIONS for the actor processes, e.g. the heap budget the README recommends. */
  nodeOptions?: string;
  /** Trigger the library as a scan does (the bulk lane), and one live class halfway through. */
  bulk?: boolean;
  /** Classes of a master over this many media playlists of `segments` each; one media playlist when unset. */
  renditions?: number;
  /** One actor process per entry (`--actors`); scanner+crawler, dispatcher, aggregator by default. */
  groups?: readonly string[];
  /** A three-node JetStream cluster with every stream at three replicas, instead of one server. */
  cluster?: boolean;
}) {
  const nats: NatsNodes = o.cluster ? clusterNodes(await startNatsCluster()) : singleNode(await startNatsServer());
  const origin = await playlistOrigin(o.segments, o.renditions);
  // Reports still go to a real destination; the files themselves never move.
  const dst = await startS3Server(['bench-dst']);
  const lambda = await startLocalLambda({ concurrency: o.concurrency ?? 256, timeoutMs: 900_000, mode: o.mode ?? 'noop' });
  const nc = await connect({ servers: nats.url });
  try {
    const actors = spawnActors(o.groups ?? ['scanner,crawler', 'dispatcher', 'aggregator'], {
      NATS_URL: nats.url, FLANTS_NAMESPACE: 'cp', FLANTS_SOURCE: `${origin.url}/vod/`, FLANTS_DEST: 's3://bench-dst/', FLANTS_DEST_ENDPOINT: dst.endpoint,
      FLANTS_STREAM_REPLICAS: o.cluster ? '3' : '1',
      FLANTS_LAMBDA_ENDPOINT: lambda.url, FLANTS_MANIFEST_TEMPLATE: o.renditions ? '{classId}/master.m3u8' : '{classId}/index.m3u8', FLANTS_WAVE_CONCURRENCY: String(o.waveConcurrency ?? 64),
      FLANTS_LAMBDA_CONCURRENCY: String(o.concurrency ?? 256),
      FLANTS_FILE_CONCURRENCY: String(o.fileConcurrency ?? 16),
      // The default ack wait: the work stream's dedupe window follows it (4×, at least 60 s), and a
      // 15-minute ack wait here had made nats-server hold an hour of job ids, 1.1 GB of its heap at 16 M.
      NODE_OPTIONS: o.nodeOptions,
    });
    const classIds = Array.from({ length: o.classes }, (_, i) => `cp-${String(i).padStart(5, '0')}`);
    const before = lambda.stats();
    // Busy time sampled each second: the best 10-second window is the sustained concurrency.
    const busy: Array<{ t: number; busyMs: number }> = [];
    let lastSample = 0;
    const t = topology('cp');
    const jsm = await jetstreamManager(nc);
    let peakBacklog = 0;
    let natsPeakRssMb = 0;
    let peakStoreMb = 0;
    let lastStoreSample = 0;
    const run = await transfer(
      nc,
      'cp',
      classIds,
      () => {
        sampleActors(actors);
        natsPeakRssMb = Math.max(natsPeakRssMb, nats.stats().peakRssMb);
        if (Date.now() - lastStoreSample >= 5_000) {
          lastStoreSample = Date.now();
          // The largest node's store on disk (every node holds every replicated stream).
          peakStoreMb = Math.max(peakStoreMb, ...nats.storeDirs.map((d) => dirBytes(d) / 2 ** 20));
        }
        if (Date.now() - lastSample >= 1_000) {
          lastSample = Date.now();
          busy.push({ t: lastSample, busyMs: lambda.stats().busyMs });
          // The largest transfer backlog seen, both lanes.
          void Promise.all([t.consumers.dispatcher, t.consumers.dispatcherBulk].map((c) => jsm.consumers.info(t.streams.work, c).then((ci) => ci.num_pending + ci.num_ack_pending, () => 0))).then(
            (n) => (peakBacklog = Math.max(peakBacklog, n.reduce((a, b) => a + b, 0))),
          );
        }
      },
      60 * 60_000,
      o.bulk ? { lane: 'bulk', late: 'cp-late' } : {},
    );
    const after = lambda.stats();
    const natsCpuSeconds = nats.stats().cpuSeconds;
    let sustained = 0;
    for (let i = 0; i + 10 < busy.length; i++) {
      const a = busy[i] as { t: number; busyMs: number };
      const b = busy[i + 10] as { t: number; busyMs: number };
      sustained = Math.max(sustained, (b.busyMs - a.busyMs) / (b.t - a.t));
    }
    await stopActors(actors);
    const jobs = run.outcomes.reduce((n, e) => n + e.files, 0);
    return {
      jobs,
      seconds: run.seconds,
      jobsPerSecond: jobs / run.seconds,
      peakBacklog,
      natsPeakRssMb,
      natsCpuSeconds,
      natsPeakStoreMb: peakStoreMb,
      classes: o.classes,
      lateClassSeconds: run.lateSeconds,
      averageConcurrency: (after.busyMs - before.busyMs) / (run.seconds * 1000),
      sustainedConcurrency: sustained,
      peakConcurrency: after.peak,
      actors: actors.map((a) => ({ actors: a.name, cpuSeconds: a.peak.cpuSeconds, peakRssMb: a.peak.peakRssMb })),
    };
  } finally {
    await nc.close();
    await lambda.close();
    origin.close();
    await dst.close();
    await nats.close();
  }
}

/** Server-side copy against streaming, on one s3rver holding both buckets, through the local Lambda. */
export async function serverSideCopyBenchmark(files = 300, bytes = 1_000_000) {
  const s3 = await startS3Server(['ssc-src', 'ssc-dst']);
  const lambda = await startLocalLambda({ concurrency: 16, timeoutMs: 300_000, env: { ...process.env, ...LOCAL_S3_ENV } });
  try {
    const client = makeS3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const body = Buffer.alloc(bytes, 7);
    for (let i = 0; i < files; i += 16) {
      await Promise.all(Array.from({ length: Math.min(16, files - i) }, (_, j) => client.send(new PutObjectCommand({ Bucket: 'ssc-src', Key: `lib/f${i + j}.ts`, Body: body }))));
    }
    const { invokeWave, makeLambdaClient } = await import('../../lambda/invoke-wave.js');
    const lc = makeLambdaClient({ functionName: 'local', endpoint: lambda.url, region: 'us-east-1', local: true });
    const run = async (serverSideCopy: boolean) => {
      const started = Date.now();
      const waves = [];
      for (let i = 0; i < files; i += 100) {
        waves.push(invokeWave(lc, 'local', {
          source: { location: { kind: 's3', bucket: 'ssc-src', prefix: 'lib/' }, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
          dest: { location: { kind: 's3', bucket: 'ssc-dst', prefix: serverSideCopy ? 'ssc/' : 'stream/' }, endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
          jobs: Array.from({ length: Math.min(100, files - i) }, (_, j) => ({ src: `f${i + j}.ts`, key: `f${i + j}.ts` })),
          options: { multipartThreshold: 64 << 20, partSize: 16 << 20, fileConcurrency: 16, stallTimeoutMs: 30_000, skipIdentical: false, serverSideCopy },
        }));
      }
      const results = (await Promise.all(waves)).flatMap((w) => w.results);
      if (!results.every((r) => r.ok && r.method === (serverSideCopy ? 'server-side' : 'stream'))) throw new Error('copy failed');
      return (Date.now() - started) / 1000;
    };
    const streamSeconds = await run(false);
    const serverSeconds = await run(true);
    return { files, bytes: files * bytes, streamFilesPerSecond: files / streamSeconds, serverSideFilesPerSecond: files / serverSeconds, speedup: streamSeconds / serverSeconds };
  } finally {
    await lambda.close();
    await s3.close();
  }
}

/**
 * One large single file (a single-file byte-range rendition), through the
 * whole pipeline twice: split into ranged part jobs across invocations, and as
 * one streaming multipart copy inside one invocation.
 */
export async function largeFileBenchmark(bytes = 2 * 1024 ** 3) {
  const [nats, src, dst] = await Promise.all([startNatsServer(), startS3ServerProcess(['big-src']), startS3ServerProcess(['big-dst'])]);
  const lambda = await startLocalLambda({ concurrency: 64, timeoutMs: 900_000, env: { ...process.env, ...LOCAL_S3_ENV } });
  const nc = await connect({ servers: nats.url });
  try {
    const s3 = makeS3Client({ endpoint: src.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    const { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand } = await import('@aws-sdk/client-s3');
    const { randomBytes } = await import('node:crypto');
    // Written as a multipart upload of one random 64 MiB block repeated: s3rver takes plain multipart calls.
    const block = randomBytes(64 * 1024 ** 2);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'big-src', Key: 'lib/film/movie.mp4' }));
    const parts: Array<{ PartNumber: number; ETag?: string }> = [];
    for (let start = 0, n = 1; start < bytes; start += block.length, n++) {
      const body = block.subarray(0, Math.min(block.length, bytes - start));
      parts.push({ PartNumber: n, ETag: (await s3.send(new UploadPartCommand({ Bucket: 'big-src', Key: 'lib/film/movie.mp4', UploadId, PartNumber: n, Body: body }))).ETag });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'big-src', Key: 'lib/film/movie.mp4', UploadId, MultipartUpload: { Parts: parts } }));
    const playlist = ['#EXTM3U', '#EXT-X-VERSION:4', '#EXT-X-TARGETDURATION:10', '#EXT-X-PLAYLIST-TYPE:VOD', '#EXTINF:10,', `#EXT-X-BYTERANGE:${bytes}@0`, 'movie.mp4', '#EXT-X-ENDLIST', ''];
    await s3.send(new PutObjectCommand({ Bucket: 'big-src', Key: 'lib/film/index.m3u8', Body: playlist.join('\n') }));
    const run = async (name: string, split: boolean) => {
      const actors = spawnActors(['scanner,crawler,dispatcher,aggregator'], {
        NATS_URL: nats.url, FLANTS_NAMESPACE: name, FLANTS_SOURCE: 's3://big-src/lib/', FLANTS_SOURCE_ENDPOINT: src.endpoint,
        FLANTS_SOURCE_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, FLANTS_SOURCE_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
        FLANTS_DEST: `s3://big-dst/${name}/`, FLANTS_DEST_ENDPOINT: dst.endpoint, FLANTS_LAMBDA_ENDPOINT: lambda.url,
        FLANTS_MANIFEST_TEMPLATE: '{classId}/index.m3u8', FLANTS_ACK_WAIT: '15m',
        FLANTS_SPLIT_THRESHOLD: split ? '1GiB' : '1024GiB',
      });
      const invocations0 = lambda.stats().invocations;
      const cpu0 = process.cpuUsage();
      const out = await transfer(nc, name, ['film'], () => sampleActors(actors), 30 * 60_000);
      const invocations = lambda.stats().invocations - invocations0;
      const cpu = process.cpuUsage(cpu0);
      await stopActors(actors);
      const e = out.outcomes[0];
      if (e?.status !== 'complete') throw new Error(`large file (${name}): ${JSON.stringify(e)}`);
      return { seconds: out.seconds, mbPerSecond: e.bytes / 1e6 / out.seconds, invocations, lambdaCpuSeconds: (cpu.user + cpu.system) / 1e6 };
    };
    const split = await run('split', true);
    const single = await run('single', false);
    return { bytes, split, single, speedup: single.seconds / split.seconds };
  } finally {
    await nc.close();
    await lambda.close();
    await Promise.all([src.close(), dst.close(), nats.close()]);
  }
}
