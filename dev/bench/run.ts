/**
 * `npm run bench`: every benchmark, one after another, then a table. Results
 * go to dev/bench/results/<date>.json. Sizes can be cut for a quick look:
 * `npm run bench -- --quick`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { auditBenchmark } from './audit-rate.js';
import { dashboardRenderBenchmark } from './dashboard-render.js';
import { ACTOR_NODE_OPTIONS } from '../../cli/daemon.js';
import { copierCost, projectToAws, SEED_MB_PER_SECOND } from './aws-projection.js';
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

for (const s3 of ['s3rver', 'rgw'] as const) {
  if (!want(s3 === 'rgw' ? 'e2e-rgw' : 'e2e')) continue;
  // Three rounds each on the real S3 (who goes first alternates), two on s3rver.
  const size = quick ? { classes: 4, renditions: 3, segments: 50, rounds: 1 } : { classes: 20, renditions: 3, segments: 100, rounds: s3 === 'rgw' ? 3 : 2 };
  const r = await e2eBenchmark({ ...size, s3 });
  results[s3 === 'rgw' ? 'e2eRgw' : 'e2e'] = r;
  const per = (xs: number[]) => xs.map((x) => f(x)).join(', ');
  rows.push([`S3→S3 on ${s3}, flants (best round)`, `${f(r.files)} files, ${f(r.bytes / 1e6)} MB`, `${f(r.flants.filesPerSecond)} files/s, ${f(r.flants.mbPerSecond, 1)} MB/s (rounds ${per(r.rounds.flants)})`, `${f(r.flants.copierCpuSeconds, 1)} CPU-s (daemon ${f(r.flants.daemonCpuSeconds, 1)}, Lambda ${f(r.flants.lambdaCpuSeconds, 1)}, NATS ${f(r.flants.natsCpuSeconds, 1)}), daemon ${f(r.flants.daemonPeakRssMb)} MB RSS; S3 servers ${f(r.flants.serverCpuSeconds, 1)} CPU-s`]);
  rows.push([`S3→S3 on ${s3}, rclone (best round)`, '--transfers 32 --checkers 16 --fast-list', `${f(r.rclone.filesPerSecond)} files/s, ${f(r.rclone.mbPerSecond, 1)} MB/s (rounds ${per(r.rounds.rclone)})`, `${f(r.rclone.copierCpuSeconds, 1)} CPU-s, ${f(r.rclone.peakRssMb)} MB RSS; S3 servers ${f(r.rclone.serverCpuSeconds, 1)} CPU-s; ratio flants/rclone ${f(r.ratio, 2)} (goal ≥ 1.00)`]);
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
  // triggered halfway: `FLANTS_BENCH_LIBRARY=2000x8000` for the 16 M run (about 17 minutes here), smaller by default.
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
  e2e?: { files: number; bytes: number; flants: { lambdaCpuSeconds: number } };
  largeFile?: { bytes: number; split: { lambdaCpuSeconds?: number } };
  controlPlane?: { jobsPerSecond: number };
};
if (merged.e2e && merged.largeFile?.split.lambdaCpuSeconds && merged.controlPlane) {
  const cost = copierCost(
    { files: merged.e2e.files, bytes: merged.e2e.bytes, cpuSeconds: merged.e2e.flants.lambdaCpuSeconds },
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
