/**
 * Projects the measured copier cost onto AWS Lambda: per-invocation
 * throughput × concurrency, with every assumption named, against the seed's
 * 523 MB/s (4 TiB in 2 h 20 min). Nothing here is measured on AWS; the inputs
 * are this machine's CPU cost per file and per byte of the real handler.
 */

/** What the projection assumes; each is printed with the result. */
export interface AwsAssumptions {
  /** 1,769 MB is one full vCPU (AWS Lambda docs); a local CPU-second counts as one vCPU-second. */
  readonly vcpusPerInvocation: number;
  /** S3 bandwidth one invocation reaches. AWS publishes no figure; measure one function before relying on it. */
  readonly networkMBpsPerInvocation: number;
  /** Invocations kept busy at once: the account's default regional limit is 1,000. */
  readonly concurrency: number;
  /** Share of that concurrency kept busy (measured: 100 % sustained at a limit of 1,000). */
  readonly waveEfficiency: number;
  /** Average file size of the library, MB. */
  readonly averageFileMB: number;
  /** Files per second the control plane (scanner to aggregator) moved on this machine's 2 cores. */
  readonly controlPlaneFilesPerSecond: number;
}

/** The seed's rate: 4 TiB in 2 h 20 min. */
export const SEED_MB_PER_SECOND = (4 * 2 ** 40) / 1e6 / (140 * 60);

/** The handler's CPU cost, split into per file and per byte from two measured runs. */
export interface CopierCost {
  readonly cpuSecondsPerFile: number;
  readonly cpuSecondsPerMB: number;
}

/**
 * Per-byte cost from a large-file run (bytes dominate), per-file cost from the
 * many-segment run after its bytes are paid for.
 */
export function copierCost(segments: { files: number; bytes: number; cpuSeconds: number }, large: { bytes: number; cpuSeconds: number }): CopierCost {
  const cpuSecondsPerMB = large.cpuSeconds / (large.bytes / 1e6);
  const cpuSecondsPerFile = Math.max(0, (segments.cpuSeconds - cpuSecondsPerMB * (segments.bytes / 1e6)) / segments.files);
  return { cpuSecondsPerFile, cpuSecondsPerMB };
}

/** Throughput of one invocation and of the fleet, and what bounds each. */
export function projectToAws(cost: CopierCost, a: AwsAssumptions) {
  const cpuSecondsPerMB = cost.cpuSecondsPerMB + cost.cpuSecondsPerFile / a.averageFileMB;
  const cpuBoundMBps = a.vcpusPerInvocation / cpuSecondsPerMB;
  const perInvocationMBps = Math.min(cpuBoundMBps, a.networkMBpsPerInvocation);
  const lambdaFleetMBps = perInvocationMBps * a.concurrency * a.waveEfficiency;
  // One 2-core control plane feeds at most this many MB/s; more needs more actor
  // replicas on a JetStream cluster (assumed to scale out linearly).
  const controlPlaneMBps = a.controlPlaneFilesPerSecond * a.averageFileMB;
  const fleetMBps = Math.min(lambdaFleetMBps, controlPlaneMBps);
  return {
    assumptions: a,
    cpuBoundMBps,
    perInvocationMBps,
    perInvocationBoundBy: cpuBoundMBps < a.networkMBpsPerInvocation ? 'CPU' : 'network',
    lambdaFleetMBps,
    controlPlaneMBps,
    /** What one 2-core control plane and `concurrency` invocations reach together. */
    fleetMBps,
    fleetBoundBy: lambdaFleetMBps <= controlPlaneMBps ? 'Lambda' : 'control plane',
    /** 2-core control-plane units needed to keep every invocation busy. */
    controlPlaneUnitsForFleet: Math.ceil(lambdaFleetMBps / controlPlaneMBps),
    versusSeed: fleetMBps / SEED_MB_PER_SECOND,
    concurrencyForSeed: Math.ceil(SEED_MB_PER_SECOND / (perInvocationMBps * a.waveEfficiency)),
  };
}
