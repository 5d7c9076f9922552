/**
 * The chaos suite: ≥ 2,000 files behind an origin that answers 5xx, resets and
 * cuts connections mid-body and stalls; actor processes killed with SIGKILL at
 * random, the whole daemon killed at once, nats-server restarted mid-run. At
 * the end every file is identical and every class is reported exactly once,
 * with exact counts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { runChaos, type ChaosReport } from '../dev/local/chaos-run.js';
import { expectLibraryCopied, expectOneCompleteOutcomeEach } from './helpers/library-checks.js';
import { rgw, rgwS3, startRgwBucket } from './helpers/services.js';

describe('chaos - nothing lost, nothing counted twice', () => {
  let report: ChaosReport | undefined;
  afterAll(async () => {
    await report?.dest.close();
  });

  it('chaos - faults, SIGKILLs and a nats-server restart leave every file identical and every class reported once', async () => {
    // The destination is a bucket on the run's Ceph RADOS Gateway (real S3).
    const bucket = await startRgwBucket('chaos');
    report = await runChaos({
      dest: { endpoint: bucket.endpoint, bucket: bucket.name, credentials: { accessKeyId: rgw().accessKeyId, secretAccessKey: rgw().secretAccessKey } },
      classes: 8,
      renditions: 2,
      segments: 130,
      minBytes: 1_000,
      maxBytes: 30_000,
      rates: { status5xx: 0.06, reset: 0.03, stall: 0.01, truncate: 0.03 },
      maxFaultsPerFile: 1,
      killEveryMs: [1_500, 3_000],
      dispatchers: 2,
      timeoutMs: 240_000,
      log: (line) => console.log(line),
    });
    const r = report;
    console.log(
      `chaos: ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB in ${(r.elapsedMs / 1000).toFixed(1)} s; faults ${JSON.stringify(r.injected)}; ` +
        `${r.kills} single SIGKILLs, ${r.wholeDaemonKills} whole-daemon SIGKILL (in-flight jobs redone within ${((r.recoveryMs ?? NaN) / 1000).toFixed(1)} s), ${r.natsRestarts} nats-server restart (${r.supervisorRestarts} daemons started again after exit 3); ` +
        `${r.outcomes.reduce((n, o) => n + o.retries, 0)} retried attempts`,
    );
    expect(r.files).toBeGreaterThanOrEqual(2_000);
    // The chaos really happened.
    expect(r.injected.status5xx + r.injected.reset + r.injected.stall + r.injected.truncate).toBeGreaterThan(50);
    expect(r.kills).toBeGreaterThan(0);
    expect(r.wholeDaemonKills).toBe(1);
    // With the default 30 s ack wait (heartbeats keep live work from expiring), a killed daemon's jobs are redone in about that.
    expect(r.recoveryMs).toBeDefined();
    expect(r.natsRestarts).toBe(1);
    // A daemon is started again only for an exit 3 soon after the restart, at most as many times as there are processes (dev/local/chaos-run.ts).
    expect(r.supervisorRestarts).toBeLessThanOrEqual(4);
    // Exactly one outcome per class, complete, with exact counts.
    expect(r.transferredInStream).toBe(r.classIds.length);
    expectOneCompleteOutcomeEach(r.outcomes, r.expected);
    // Every file identical, nothing else copied.
    await expectLibraryCopied(rgwS3(), r.destBucket, r.library);
  }, 300_000);
});
