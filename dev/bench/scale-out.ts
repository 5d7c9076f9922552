/**
 * The scale-out model, from measurements: the control plane on one server and
 * on a three-node JetStream cluster (replicas 3) with one and with two
 * dispatcher processes. Each run gives every process kind's CPU per file and
 * nats-server's; the table then sizes actor processes, cluster nodes and
 * Lambda concurrency for a target rate, with every assumption printed.
 */
import { controlPlaneBenchmark } from './pipeline-benchmarks.js';

/** One measured layout. */
export interface ScaleRun {
  readonly label: string;
  readonly files: number;
  readonly seconds: number;
  readonly filesPerSecond: number;
  /** CPU milliseconds per file, by process kind (summed over its processes). */
  readonly cpuMsPerFile: Record<string, number>;
  readonly natsCpuMsPerFile: number;
  readonly natsPeakRssMb: number;
}

/** What one row of the sizing table assumes. */
export interface ScaleTarget {
  readonly label: string;
  readonly mbPerSecond: number;
  readonly averageFileMB: number;
}

/** A sized deployment for one target. */
export interface ScaleRow {
  readonly target: ScaleTarget;
  readonly filesPerSecond: number;
  /** Processes of each kind, each allowed `USABLE_CORE` of a core. */
  readonly processes: Record<string, number>;
  /** Cores each node of a 3-node, replicas-3 cluster needs (every node stores every message). */
  readonly natsCoresPerNode: number;
  readonly lambdaConcurrency: number;
}

/** The share of a core a process is planned to use, leaving room for bursts and GC. */
export const USABLE_CORE = 0.7;

const kindOf = (group: string) => (group.includes('dispatcher') ? 'dispatcher' : group.includes('aggregator') ? 'aggregator' : 'scanner+crawler');

async function measure(label: string, o: { classes: number; segments: number; groups: readonly string[]; cluster: boolean; nodeOptions?: string }): Promise<ScaleRun> {
  const r = await controlPlaneBenchmark({ classes: o.classes, segments: o.segments, groups: o.groups, cluster: o.cluster, nodeOptions: o.nodeOptions });
  const cpuMsPerFile: Record<string, number> = {};
  for (const a of r.actors) cpuMsPerFile[kindOf(a.actors)] = (cpuMsPerFile[kindOf(a.actors)] ?? 0) + (a.cpuSeconds * 1000) / r.jobs;
  return {
    label,
    files: r.jobs,
    seconds: r.seconds,
    filesPerSecond: r.jobsPerSecond,
    cpuMsPerFile,
    natsCpuMsPerFile: (r.natsCpuSeconds * 1000) / r.jobs,
    natsPeakRssMb: r.natsPeakRssMb,
  };
}

/** Runs the three layouts; `classes` × `segments` files each. */
export async function scaleOutBenchmark(o: { classes: number; segments: number; nodeOptions?: string }): Promise<ScaleRun[]> {
  const base = ['scanner,crawler', 'aggregator'];
  return [
    await measure('one server, 1 dispatcher', { ...o, groups: [...base, 'dispatcher'], cluster: false }),
    await measure('3-node cluster (R3), 1 dispatcher', { ...o, groups: [...base, 'dispatcher'], cluster: true }),
    await measure('3-node cluster (R3), 2 dispatchers', { ...o, groups: [...base, 'dispatcher', 'dispatcher'], cluster: true }),
  ];
}

/**
 * Sizes a deployment from a cluster run's costs. Lambda concurrency is the
 * target divided by one invocation's throughput (`perInvocationMBps`, from the
 * AWS projection) at the wave efficiency measured here.
 */
export function sizeFor(run: ScaleRun, target: ScaleTarget, perInvocationMBps: number, waveEfficiency: number): ScaleRow {
  const filesPerSecond = target.mbPerSecond / target.averageFileMB;
  const processes: Record<string, number> = {};
  for (const [kind, ms] of Object.entries(run.cpuMsPerFile)) processes[kind] = Math.max(1, Math.ceil((filesPerSecond * ms) / 1000 / USABLE_CORE));
  return {
    target,
    filesPerSecond,
    processes,
    // Summed over three nodes in the run; each node does about a third (the leader somewhat more).
    natsCoresPerNode: (filesPerSecond * run.natsCpuMsPerFile) / 1000 / 3 / USABLE_CORE,
    lambdaConcurrency: Math.ceil(target.mbPerSecond / (perInvocationMBps * waveEfficiency)),
  };
}
