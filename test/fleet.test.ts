/**
 * Many flants processes on one stream: two whole daemons on a real three-node
 * JetStream cluster (replicas 3) while the work stream's leader is SIGKILLed,
 * restarted, and then every node restarted in turn; three whole daemons on one
 * server; and actors split across six processes. Each run ends with every file
 * byte-identical and every class reported exactly once with exact counts.
 */
import { describe, expect, it } from 'vitest';
import { runFleet, type FleetOptions, type FleetReport } from '../dev/local/fleet-run.js';
import { expectLibraryCopied, expectOneCompleteOutcomeEach } from './helpers/library-checks.js';
import { rgw, rgwS3, startRgwBucket } from './helpers/services.js';

async function fleetOnRgw(o: Omit<FleetOptions, 'dest' | 'log'>): Promise<{ report: FleetReport; bucket: string }> {
  const bucket = await startRgwBucket('fleet');
  const { accessKeyId, secretAccessKey } = rgw();
  const report = await runFleet({ ...o, dest: { endpoint: bucket.endpoint, bucket: bucket.name, credentials: { accessKeyId, secretAccessKey } }, log: (l) => console.log(l) });
  return { report, bucket: bucket.name };
}

async function expectWholeLibrary(r: FleetReport, bucket: string, processes: readonly string[]): Promise<void> {
  expect(r.transferredInStream).toBe(r.classIds.length);
  // What matters most first: every class reported once and complete, every file at the destination.
  expectOneCompleteOutcomeEach(r.outcomes, r.expected);
  await expectLibraryCopied(rgwS3(), bucket, r.library);
  // `flants status` shows every process, and each dispatcher took a share of the jobs.
  expect(r.fleet).toHaveLength(processes.length);
  const dispatchers = r.fleet.filter((m) => m.actors.dispatcher);
  expect(dispatchers).toHaveLength(processes.filter((p) => p === 'all' || p.includes('dispatcher')).length);
  for (const d of dispatchers) expect(d.actors.dispatcher?.acked, d.id).toBeGreaterThan(0);
  expect(dispatchers.reduce((n, d) => n + (d.actors.dispatcher?.acked ?? 0), 0)).toBeGreaterThanOrEqual(r.files);
}

const summary = (r: FleetReport) =>
  `${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB in ${(r.elapsedMs / 1000).toFixed(1)} s; ` +
  `${r.redelivered} redelivered jobs; leader elections after the kill: ${r.leaderChanges.streams} stream, ${r.leaderChanges.consumers} consumer; ` +
  `dispatchers acked ${r.fleet.filter((m) => m.actors.dispatcher).map((m) => `${m.actors.dispatcher?.acked} (failed ${m.actors.dispatcher?.failed}, retried ${m.actors.dispatcher?.retried}) on ${m.natsServer}`).join(', ')}`;

describe('fleet - many processes, one stream', () => {
  it('fleet - a 3-node cluster loses the work stream leader and restarts every node: two daemons finish every file, each class once', async () => {
    const processes = ['all', 'all'];
    const { report: r, bucket } = await fleetOnRgw({
      cluster: true,
      processes,
      library: { classes: 8, renditions: 2, segments: 190, minBytes: 1_000, maxBytes: 30_000 },
      originLatencyMs: 100,
      nodeFaults: { killLeaderAfterMs: 4_000, downMs: 6_000, rollingRestart: true },
      timeoutMs: 180_000,
    });
    console.log(`fleet (cluster): ${summary(r)}\n  ${r.events.join('\n  ')}`);
    expect(r.files).toBeGreaterThanOrEqual(3_000);
    // The faults happened while files were still moving: the leader's death and all three restarts.
    expect(r.events.filter((e) => /SIGKILL|rolling restart: n\d stopped/.test(e))).toHaveLength(4);
    const at = (pattern: RegExp) => Number.parseFloat(r.events.find((e) => pattern.test(e)) ?? 'NaN');
    expect(at(/every class reported/)).toBeGreaterThan(at(/rolling restart: n1 stopped/));
    expect(r.leaderChanges.streams).toBeGreaterThan(0);
    // The compare-and-set state stays on one replica on this server (streams/state-replicas.ts).
    expect(r.stateReplicas).toBe(1);
    await expectWholeLibrary(r, bucket, processes);
  }, 240_000);

  it('fleet - three whole daemons on one server share the library: every file, each class once', async () => {
    const processes = ['all', 'all', 'all'];
    const { report: r, bucket } = await fleetOnRgw({
      cluster: false,
      processes,
      library: { classes: 9, renditions: 2, segments: 100, minBytes: 1_000, maxBytes: 30_000 },
      timeoutMs: 120_000,
    });
    console.log(`fleet (3 daemons): ${summary(r)}`);
    await expectWholeLibrary(r, bucket, processes);
  }, 180_000);

  it('fleet - actors split over six processes, two of each but the scanner: every file, each class once', async () => {
    const processes = ['scanner,crawler', 'crawler', 'dispatcher', 'dispatcher', 'aggregator', 'aggregator'];
    const { report: r, bucket } = await fleetOnRgw({
      cluster: false,
      processes,
      library: { classes: 9, renditions: 2, segments: 100, minBytes: 1_000, maxBytes: 30_000 },
      timeoutMs: 120_000,
    });
    console.log(`fleet (split actors): ${summary(r)}`);
    await expectWholeLibrary(r, bucket, processes);
  }, 180_000);
});
