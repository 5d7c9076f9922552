/**
 * `npm run bench`: every benchmark, one after another, then a table. Results
 * go to dev/bench/results/<date>.json. Sizes can be cut for a quick look:
 * `npm run bench -- --quick`.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ensurePrograms, onPath } from '../system-programs.js';
import { join } from 'node:path';
import { auditBenchmark } from './audit-rate.js';
import { dashboardRenderBenchmark } from './dashboard-render.js';
import { ACTOR_NODE_OPTIONS } from '../../cli/daemon.js';
import { copierCost, projectToAws, SEED_MB_PER_SECOND } from './aws-projection.js';
import { copyFloorBenchmark } from './copy-floor.js';
import { controlPlaneBenchmark, e2eBenchmark, largeFileBenchmark, serverSideCopyBenchmark } from './pipeline-benchmarks.js';
import { scanBenchmarkInChild } from './scan-rate.js';
import { scaleOutBenchmark, sizeFor, USABLE_CORE, type ScaleRun, type ScaleTarget } from './scale-out.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const quick = process.argv.includes('--quick');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7).split(',');
const want = (name: string) => !only || only.includes(name);
const results: Record<string, unknown> = { date: new Date().toISOString(), quick };
const rows: string[][] = [];
const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// The copy is measured against rclone on the same endpoints.
if (want('e2e') || want('e2e-rgw') || want('copy-floor')) ensurePrograms([{ what: 'rclone (the copy benchmark compares against it)', found: () => onPath('rclone'), pkg: 'rclone' }], 'npm run bench');
for (const s3 of ['s3rver', 'rgw'] as const) {
  if (!want(s3 === 'rgw' ? 'e2e-rgw' : 'e2e')) continue;
  // Three rounds each (who goes first alternates), fresh destination prefixes; `--profile` adds a profiled flants round.
  const size = quick ? { classes: 4, renditions: 3, segments: 50, rounds: 1 } : { classes: 20, renditions: 3, segments: 100, rounds: 3 };
  const profileDir = process.argv.includes('--profile') ? mkdtempSync(join(tmpdir(), `flants-prof-${s3}-`)) : undefined;
  // For trying settings by hand: FLANTS_BENCH_E2E_ENV='{"FLANTS_WAVE_CONCURRENCY":"4"}', FLANTS_BENCH_LAMBDA_WORKERS=4.
  const flantsEnv = process.env.FLANTS_BENCH_E2E_ENV ? (JSON.parse(process.env.FLANTS_BENCH_E2E_ENV) as Record<string, string>) : undefined;
  const lambdaWorkers = process.env.FLANTS_BENCH_LAMBDA_WORKERS ? Number(process.env.FLANTS_BENCH_LAMBDA_WORKERS) : undefined;
  const r = await e2eBenchmark({ ...size, s3, profileDir, flantsEnv, lambdaWorkers });
  results[s3 === 'rgw' ? 'e2eRgw' : 'e2e'] = r;
  for (const fr of r.flantsRounds) {
    const rr = r.rcloneRounds.find((x) => x.round === fr.round);
    const pair = r.pairs.find((x) => x.round === fr.round);
    rows.push([
      `S3→S3 on ${s3}, round ${fr.round} (${fr.round % 2 === 1 ? 'rclone' : 'flants'} first)`,
      `${f(r.files)} files, ${f(r.bytes / 1e6)} MB`,
      `flants ${f(fr.filesPerSecond)} files/s, rclone ${f(rr?.filesPerSecond ?? NaN)} files/s: ratio ${f(pair?.ratio ?? NaN, 2)} (goal ≥ 1.2)`,
      `CPU per file: flants ${f(fr.cpuMsPerFile, 2)} ms (daemon ${f(fr.daemonCpuSeconds, 1)} s, Lambda ${f(fr.lambdaCpuSeconds, 1)} s, NATS ${f(fr.natsCpuSeconds, 1)} s), ` +
        `rclone ${f(rr?.cpuMsPerFile ?? NaN, 2)} ms: ratio ${f(pair?.cpuRatio ?? NaN, 2)} (goal ≤ 1); S3 servers ${f(fr.serverCpuSeconds, 1)} / ${f(rr?.serverCpuSeconds ?? NaN, 1)} CPU-s`,
    ]);
  }
  rows.push([`S3→S3 on ${s3}: outside the rounds`, '', `worst ratio ${f(r.worstRatio, 2)}`, `daemon start-up ${f(r.flantsRounds[0]?.daemonStartCpuSeconds ?? NaN, 1)} CPU-s, local Lambda's ${r.lambdaWorkers} warm workers ${f(r.lambdaWarmupCpuSeconds, 1)} CPU-s (once each)`]);
  if (r.profile) {
    for (const [who, table] of [['daemon', r.profile.daemon], ['Lambda', r.profile.lambda]] as const) {
      for (const [stage, ms, perFile, kinds] of table) rows.push([`  profile on ${s3}, ${who}: ${stage}`, ms ?? '', perFile ?? '', kinds ?? '']);
    }
    for (const [who, top] of [['daemon', r.profile.daemonTop], ['Lambda', r.profile.lambdaTop]] as const) {
      rows.push([`  profile on ${s3}, ${who}: top self time`, '', '', top.map(([fn, , share]) => `${fn} ${share}`).join('; ')]);
    }
  }
}
if (want('copy-floor')) {
  // Each layer of the copy path against rclone, same RGW, same rounds (dev/bench/copy-floor.ts).
  const r = await copyFloorBenchmark(quick ? { classes: 4, renditions: 3, segments: 50, rounds: 1 } : { classes: 20, renditions: 3, segments: 100, rounds: 3 });
  results.copyFloor = r;
  const label = { raw: 'GET→PUT, object calls only', handler: 'Lambda handler in one process', endpoint: 'through the local Lambda endpoint', rclone: 'rclone' } as const;
  for (const run of r.runs) {
    rows.push([`copy floor on rgw, round ${run.round}: ${label[run.variant]}`, `${f(r.files)} files, ${f(r.bytes / 1e6)} MB`, `${f(run.filesPerSecond)} files/s`, `${f(run.cpuMsPerFile, 2)} CPU-ms per file (RGW ${f(run.serverMsPerFile, 2)})`]);
  }
}
if (want('control')) {
  // Actors run with the heap budget the README recommends; `control-default` measures V8's defaults too.
  const size = quick ? { classes: 20, segments: 1_000 } : { classes: 100, segments: 10_000 };
  const r = await controlPlaneBenchmark({ ...size, nodeOptions: ACTOR_NODE_OPTIONS });
  results.controlPlane = { ...r, nodeOptions: ACTOR_NODE_OPTIONS };
  rows.push(['control plane (no-op Lambda)', `${f(r.jobs)} jobs`, `${f(r.jobsPerSecond)} segments/s (goal ≥ 10,000)`, r.actors.map((a) => `${a.actors} ${f(a.peakRssMb)} MB`).join(', ') + ` peak RSS (goal ≤ 150), NODE_OPTIONS="${ACTOR_NODE_OPTIONS}"`]);
}
if (want('library')) {
  // The seed's whole library through the control plane, triggered as a scan (the bulk lane), with one recording
  // triggered halfway: `FLANTS_BENCH_LIBRARY=2000x16x500` for the 16 M run (about 13 minutes here), smaller by default.
  // `CLASSESxSEGMENTS` (one media playlist each) or `CLASSESxRENDITIONSxSEGMENTS` (a master over renditions): 2000x16x500 is the seed's shape.
  const spec = (process.env.FLANTS_BENCH_LIBRARY ?? (quick ? '20x1000' : '200x8000')).split('x').map(Number);
  const [classes, renditions, segments] = spec.length === 3 ? spec : [spec[0], undefined, spec[1]];
  const r = await controlPlaneBenchmark({ classes: classes ?? 200, renditions, segments: segments ?? 8_000, nodeOptions: ACTOR_NODE_OPTIONS, bulk: true });
  results.library = { ...r, nodeOptions: ACTOR_NODE_OPTIONS };
  rows.push([
    'library through the bulk lane (no-op Lambda)',
    `${f(r.jobs)} jobs in ${f(r.seconds)} s`,
    `${f(r.jobsPerSecond)} files/s; a recording triggered halfway done in ${f(r.lateClassSeconds ?? NaN, 1)} s (goal < 30 s)`,
    `largest backlog ${f(r.peakBacklog)} jobs; nats-server ${f(r.natsPeakRssMb)} MB RSS, store ${f(r.natsPeakStoreMb)} MB on disk; ` + r.actors.map((a) => `${a.actors} ${f(a.peakRssMb)} MB`).join(', ') + ' peak RSS' +
      `; aggregator ${f((r.actors.find((a) => a.actors === 'aggregator')?.cpuSeconds ?? 0) * 1000 / r.classes, 1)} CPU-ms per class`,
  ]);
}
if (want('scale')) {
  // Measured, not assumed: the control plane on one server and on a 3-node cluster with one and two dispatchers.
  const runs = await scaleOutBenchmark(quick ? { classes: 10, segments: 2_000, nodeOptions: ACTOR_NODE_OPTIONS } : { classes: 40, segments: 5_000, nodeOptions: ACTOR_NODE_OPTIONS });
  const ms = (r: ScaleRun) => Object.entries(r.cpuMsPerFile).map(([k, v]) => `${k} ${f(v, 3)}`).join(', ');
  for (const r of runs) {
    rows.push([`scale: ${r.label}`, `${f(r.files)} files in ${f(r.seconds, 1)} s`, `${f(r.filesPerSecond)} files/s`, `CPU ms per file: ${ms(r)}, nats-server ${f(r.natsCpuMsPerFile, 3)} (peak ${f(r.natsPeakRssMb)} MB per node)`]);
  }
  const cluster = runs[1] as ScaleRun;
  const two = runs[2] as ScaleRun;
  rows.push(['scale: 2 dispatchers vs 1 on the cluster', `${f(two.filesPerSecond / cluster.filesPerSecond, 2)}×`, 'both on the same 2 cores as everything else', 'a second dispatcher helps only where cores are free']);
  const perInvocationMBps = 90; // network-bound per invocation: the AWS projection's assumption (no published figure)
  const waveEfficiency = 0.95; // measured: `waves` sustains ≥ 95 % of the limit
  const targets: ScaleTarget[] = [
    { label: "seed, 6 s segments at 3 Mbit/s", mbPerSecond: SEED_MB_PER_SECOND, averageFileMB: 2.25 },
    { label: '10× seed, 6 s at 3 Mbit/s', mbPerSecond: SEED_MB_PER_SECOND * 10, averageFileMB: 2.25 },
    { label: '10× seed, 2 s at 1 Mbit/s', mbPerSecond: SEED_MB_PER_SECOND * 10, averageFileMB: 0.25 },
  ];
  const sized = targets.map((t) => sizeFor(cluster, t, perInvocationMBps, waveEfficiency));
  results.scaleOut = { runs, sized, assumptions: { usableCore: USABLE_CORE, perInvocationMBps, waveEfficiency, costsFrom: cluster.label } };
  for (const z of sized) {
    rows.push([
      `scale-out: ${z.target.label}`,
      `${f(z.target.mbPerSecond)} MB/s = ${f(z.filesPerSecond)} files/s`,
      Object.entries(z.processes).map(([k, n]) => `${n} ${k}`).join(', ') + ` process(es) at ${USABLE_CORE * 100} % of a core`,
      `3 NATS nodes of ${f(Math.max(1, Math.ceil(z.natsCoresPerNode)))} core(s) (${f(z.natsCoresPerNode, 2)} needed); Lambda concurrency ${f(z.lambdaConcurrency)} at ${perInvocationMBps} MB/s × ${waveEfficiency * 100} %`,
    ]);
  }
}
if (want('control-default') || (!only && !quick)) {
  const r = await controlPlaneBenchmark(quick ? { classes: 20, segments: 1_000 } : { classes: 100, segments: 10_000 });
  results.controlPlaneDefaultHeap = r;
  rows.push(['control plane, V8 default heap', `${f(r.jobs)} jobs`, `${f(r.jobsPerSecond)} segments/s`, r.actors.map((a) => `${a.actors} ${f(a.peakRssMb)} MB`).join(', ') + ' peak RSS']);
}
if (want('waves')) {
  const r = await controlPlaneBenchmark({
    classes: quick ? 20 : 100, segments: quick ? 1_000 : 3_000, mode: { simulateMs: [50, 500] }, concurrency: 1_000, waveConcurrency: 1_000, fileConcurrency: 1,
  });
  results.waveEfficiency = r;
  rows.push(['wave efficiency (50–500 ms/file, limit 1,000)', `${f(r.jobs)} jobs`, `sustained ${f(r.sustainedConcurrency)} / 1,000 = ${f(r.sustainedConcurrency / 10, 1)} % (goal ≥ 95 %)`, `peak ${f(r.peakConcurrency)}, average ${f(r.averageConcurrency)}`]);
}
if (want('copy')) {
  const r = await serverSideCopyBenchmark(quick ? 100 : 300);
  results.serverSideCopy = r;
  rows.push(['server-side copy vs streaming', `${f(r.files)} files, ${f(r.bytes / 1e6)} MB`, `${f(r.serverSideFilesPerSecond)} vs ${f(r.streamFilesPerSecond)} files/s`, `${f(r.speedup, 2)}× (one s3rver, both buckets)`]);
}
if (want('large')) {
  const r = await largeFileBenchmark(quick ? 256 * 1024 ** 2 : 2 * 1024 ** 3);
  results.largeFile = r;
  rows.push(['one large file, split vs one invocation', `${f(r.bytes / 1e6)} MB`, `${f(r.split.mbPerSecond, 1)} vs ${f(r.single.mbPerSecond, 1)} MB/s (${f(r.speedup, 2)}×)`, `${f(r.split.seconds, 1)} s in ${r.split.invocations} invocations vs ${f(r.single.seconds, 1)} s in ${r.single.invocations}`]);
}
if (want('scan')) {
  const r = await scanBenchmarkInChild(quick ? 10_000 : 100_000);
  results.scan = r;
  rows.push(['scan (index discovery)', `${f(r.classes)} classes`, `${f(r.perSecond)} classes/s`, `peak RSS ${f(r.peakRssMb)} MB`]);
}
if (want('audit')) {
  const r = await auditBenchmark(quick ? 2 : 10, 250);
  results.audit = r;
  rows.push(['audit', `${f(r.files)} files`, `${f(r.plain)} files/s plain, ${f(r.deep)} deep`, `${r.drift} drift`]);
}
if (want('dashboard')) {
  const r = await dashboardRenderBenchmark(500, 5_000, quick ? 3 : 10);
  results.dashboard = r;
  rows.push(['dashboard render', '500 × 5,000', `frame p50 ${f(r.frameP50, 1)} ms, p99 ${f(r.frameP99, 1)} ms`, `update p50 ${f(r.updateP50, 1)} ms, max ${f(r.updateMax, 1)} ms`]);
}

// The AWS projection needs the copier's cost per file (e2e) and per byte (large file), from this run or earlier today.
const file = `dev/bench/results/${new Date().toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`;
const earlier = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
const merged = { ...earlier, ...results } as {
  e2e?: { files: number; bytes: number; flantsRounds?: Array<{ lambdaCpuSeconds: number }> };
  largeFile?: { bytes: number; split: { lambdaCpuSeconds?: number } };
  controlPlane?: { jobsPerSecond: number };
};
// The copier's cost per file is the median round's: one noisy round should not set the projection.
const lambdaCpu = merged.e2e?.flantsRounds?.map((r) => r.lambdaCpuSeconds).sort((a, b) => a - b);
const medianLambdaCpu = lambdaCpu?.[Math.floor(lambdaCpu.length / 2)];
if (merged.e2e && medianLambdaCpu !== undefined && merged.largeFile?.split.lambdaCpuSeconds && merged.controlPlane) {
  const cost = copierCost(
    { files: merged.e2e.files, bytes: merged.e2e.bytes, cpuSeconds: medianLambdaCpu },
    { bytes: merged.largeFile.bytes, cpuSeconds: merged.largeFile.split.lambdaCpuSeconds },
  );
  const base = { vcpusPerInvocation: 1, networkMBpsPerInvocation: 90, concurrency: 1_000, waveEfficiency: 0.95, controlPlaneFilesPerSecond: merged.controlPlane.jobsPerSecond };
  const mixes = [{ label: 'bench mix', averageFileMB: merged.e2e.bytes / 1e6 / merged.e2e.files }, { label: '6 s segments at 3 Mbit/s', averageFileMB: 2.25 }];
  const projections = mixes.map((m) => ({ label: m.label, ...projectToAws(cost, { ...base, averageFileMB: m.averageFileMB }) }));
  results.awsProjection = { cost, seedMBps: SEED_MB_PER_SECOND, projections };
  for (const p of projections) {
    rows.push([
      `AWS projection, ${p.label}`,
      `${f(p.assumptions.averageFileMB, 2)} MB/file, ${f(p.assumptions.concurrency)} × 1 vCPU`,
      `${f(p.perInvocationMBps, 1)} MB/s per invocation (${p.perInvocationBoundBy}-bound); ${f(p.fleetMBps)} MB/s with one 2-core control plane (${p.fleetBoundBy}-bound)`,
      `${f(p.versusSeed, 1)}× the seed's ${f(SEED_MB_PER_SECOND)} MB/s; ${f(p.concurrencyForSeed)} invocations match the seed; ${p.controlPlaneUnitsForFleet} control-plane units keep all ${f(p.assumptions.concurrency)} busy (${f(p.lambdaFleetMBps)} MB/s)`,
    ]);
  }
}

const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] ?? '').length), 4));
console.log(`\n${rows.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')).join('\n')}`);
mkdirSync('dev/bench/results', { recursive: true });
// A subset run (--only) updates its own measures and keeps the day's others.
writeFileSync(file, `${JSON.stringify({ ...earlier, ...results }, null, 2)}\n`);
console.log(`\nresults: ${file}`);
