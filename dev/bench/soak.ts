/**
 * `npm run soak`: the chaos scenario at a larger size, for a longer run than CI
 * affords. Prints files, faults injected, kills, retries and the outcome, and
 * exits non-zero if anything was lost, duplicated or miscounted.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { runChaos } from '../local/chaos-run.js';
import { makeS3Client } from '../../storage/s3-client.js';

const arg = (name: string, fallback: number) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);

const report = await runChaos({
  classes: arg('classes', 20),
  renditions: arg('renditions', 3),
  segments: arg('segments', 200),
  minBytes: 1_000,
  maxBytes: arg('max-bytes', 200_000),
  rates: { status5xx: 0.05, reset: 0.03, stall: 0.01, truncate: 0.03 },
  maxFaultsPerFile: 2,
  killEveryMs: [2_000, 5_000],
  dispatchers: arg('dispatchers', 3),
  stallTimeout: '5s',
  timeoutMs: arg('timeout-min', 20) * 60_000,
  log: (line) => console.log(line),
});
const s3 = makeS3Client({ endpoint: report.dest.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: report.dest.credentials });
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const problems: string[] = [];
const entries = [...report.library.entries()];
await Promise.all(
  Array.from({ length: 32 }, async () => {
    for (let e = entries.pop(); e; e = entries.pop()) {
      const [path, body] = e;
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: report.destBucket, Key: path.slice('/vod/'.length) }));
        const got = await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
        if (md5(got) !== md5(body)) problems.push(`differs: ${path}`);
      } catch (err) {
        problems.push(`missing: ${path} (${(err as Error).name})`);
      }
    }
  }),
);
if (report.transferredInStream !== report.classIds.length) problems.push(`${report.transferredInStream} outcomes for ${report.classIds.length} classes`);
for (const o of report.outcomes) {
  const want = report.expected.get(o.classId);
  if (o.status !== 'complete' || o.files !== want?.files || o.bytes !== want?.bytes) {
    problems.push(`${o.classId}: ${o.status}, ${o.files} files / ${o.bytes} bytes, expected ${want?.files} / ${want?.bytes}`);
    for (const f of o.failed.slice(0, 3)) problems.push(`  ${f.key}: ${f.reasons.join(' | ')}`);
  }
}
const faults = Object.values(report.injected).reduce((n, v) => n + v, 0);
console.log('\nsoak result');
console.log(`  files           ${report.files} in ${report.classIds.length} classes, ${(report.bytes / 1e6).toFixed(1)} MB`);
console.log(`  time            ${(report.elapsedMs / 1000).toFixed(1)} s (${(report.files / (report.elapsedMs / 1000)).toFixed(0)} files/s under chaos)`);
console.log(`  faults injected ${faults} ${JSON.stringify(report.injected)} over ${report.originRequests} origin requests`);
console.log(`  SIGKILLs        ${report.kills} single actor, ${report.wholeDaemonKills} whole daemon; nats-server restarts ${report.natsRestarts}; daemons started again after exit 3: ${report.supervisorRestarts}`);
console.log(`  retried attempts ${report.outcomes.reduce((n, o) => n + o.retries, 0)}; unchanged on redo ${report.outcomes.reduce((n, o) => n + o.unchanged, 0)}`);
console.log(`  outcome         ${problems.length === 0 ? 'every file identical, every class reported once with exact counts' : `${problems.length} problems`}`);
for (const p of problems.slice(0, 20)) console.log(`    ${p}`);
await report.dest.close();
process.exit(problems.length === 0 ? 0 : 1);
