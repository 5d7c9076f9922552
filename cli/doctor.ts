/**
 * `flants doctor`: checks every part a daemon needs, with the configured
 * credentials, and prints a table: NATS (reachable, version, JetStream), the
 * streams and consumers against this configuration, a read of the source, a
 * write and delete under the destination prefix, and a DryRun invoke of the
 * Lambda. Nothing is created; exits 1 when a check fails.
 */
import { redactUri } from '../storage/source-root.js';
import { randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FlantsConfig } from '../config/load-config.js';
import { formatDuration } from '../config/durations.js';
import { consumerDifferences, subjectCovers } from '../streams/ensure-topology.js';
import { exhaustedConsumerName } from '../streams/exhausted-messages.js';
import { redeliveryCap } from '../streams/outcome-policy.js';
import { topology, type Topology } from '../streams/topology.js';
import { EXIT, connectOrExplain, displayUrl, type ExitCode } from './failures.js';

/** One row of the table. */
export interface DoctorCheck {
  readonly check: string;
  readonly result: 'ok' | 'FAIL' | 'warn' | 'skip';
  readonly detail: string;
}

const PROBE_TIMEOUT_MS = 10_000;

function withTimeout<T>(what: string, p: Promise<T>, ms = PROBE_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${formatDuration(ms)}`)), ms))),
  ]);
}

/** An error as one short phrase: the SDK's name and message, or the socket error. */
function why(err: unknown): string {
  const e = err as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
  const name = e.name && e.name !== 'Error' ? `${e.name}: ` : '';
  return `${name}${e.message || e.code || String(err)}${status}`.replace(/\s+/g, ' ').slice(0, 300);
}

/** The consumer settings this configuration wants, for the fields every daemon must agree on. */
function wantedConsumers(t: Topology, config: FlantsConfig): Array<{ stream: string; name: string; want: { ack_wait: number; max_deliver: number; filter_subject: string } }> {
  const ackWait = config.ackWaitMs * 1_000_000;
  const cap = redeliveryCap(config.maxAttempts);
  return [
    { stream: t.streams.classes, name: t.consumers.scanner, want: { ack_wait: ackWait, max_deliver: cap, filter_subject: t.subjects.recorded } },
    { stream: t.streams.classes, name: t.consumers.scannerBulk, want: { ack_wait: ackWait, max_deliver: cap, filter_subject: t.subjects.recordedBulk } },
    { stream: t.streams.work, name: t.consumers.crawler, want: { ack_wait: ackWait, max_deliver: cap, filter_subject: t.subjects.crawl } },
    { stream: t.streams.work, name: t.consumers.crawlerBulk, want: { ack_wait: ackWait, max_deliver: cap, filter_subject: t.subjects.crawlBulk } },
    { stream: t.streams.work, name: t.consumers.dispatcher, want: { ack_wait: ackWait, max_deliver: cap, filter_subject: t.subjects.transfer } },
    { stream: t.streams.work, name: t.consumers.dispatcherBulk, want: { ack_wait: ackWait, max_deliver: cap, filter_subject: t.subjects.transferBulk } },
    { stream: t.streams.events, name: t.consumers.aggregator, want: { ack_wait: ackWait, max_deliver: -1, filter_subject: t.subjects.aggregate } },
    { stream: t.streams.events, name: t.consumers.aggregatorBulk, want: { ack_wait: ackWait, max_deliver: -1, filter_subject: t.subjects.aggregateBulk } },
  ];
}

async function natsChecks(config: FlantsConfig, rows: DoctorCheck[]): Promise<NatsConnection | undefined> {
  let nc: NatsConnection;
  try {
    nc = await connectOrExplain(config.nats, 'flants-doctor');
  } catch (err) {
    rows.push({ check: 'NATS', result: 'FAIL', detail: (err as Error).message });
    return undefined;
  }
  rows.push({ check: 'NATS', result: 'ok', detail: `${displayUrl(config.natsUrl)}, server ${nc.info?.version ?? '?'}${nc.info?.server_name ? ` (${nc.info.server_name})` : ''}` });
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc);
    const info = await jsm.getAccountInfo();
    rows.push({ check: 'JetStream', result: 'ok', detail: `enabled; ${info.streams} streams, ${info.consumers} consumers in this account` });
  } catch (err) {
    rows.push({ check: 'JetStream', result: 'FAIL', detail: `${why(err)} (start nats-server with -js, or enable JetStream for this account)` });
    return nc;
  }
  const t = topology(config.namespace);
  const missing: string[] = [];
  const found = new Map<string, Awaited<ReturnType<JetStreamManager['streams']['info']>>>();
  for (const name of Object.values(t.streams)) {
    const info = await jsm.streams.info(name).catch(() => undefined);
    if (info) found.set(name, info);
    else missing.push(name);
  }
  rows.push(missing.length
    ? { check: 'streams', result: 'FAIL', detail: `missing ${missing.join(', ')} (run \`flants setup\`, or start \`flants daemon\`; FLANTS_NAMESPACE=${config.namespace || '(empty)'})` }
    : { check: 'streams', result: 'ok', detail: Object.values(t.streams).join(', ') });
  const problems: string[] = [];
  const absent: string[] = [];
  // A classes stream from before the bulk trigger subject: scans would find no stream to publish to.
  const classes = found.get(t.streams.classes);
  const subjects = classes?.config.subjects ?? [];
  if (classes && !subjects.some((s) => subjectCovers(s, t.subjects.recordedBulk))) {
    problems.push(`${t.streams.classes} lacks ${t.subjects.recordedBulk} (set up by an older flants; run this version's \`flants setup\` once)`);
  }
  for (const c of wantedConsumers(t, config)) {
    if (missing.includes(c.stream)) continue;
    const have = await jsm.consumers.info(c.stream, c.name).catch(() => undefined);
    if (!have) {
      absent.push(`${c.stream}/${c.name}`);
      continue;
    }
    for (const d of consumerDifferences(have.config, c.want)) problems.push(`${c.stream}/${c.name}: ${d}`);
  }
  // The exhausted-message consumers are checked for presence only: their settings are fixed.
  if (!missing.includes(t.streams.advisories)) {
    const { scanner, scannerBulk, crawler, crawlerBulk, dispatcher, dispatcherBulk } = t.consumers;
    for (const c of [scanner, scannerBulk, crawler, crawlerBulk, dispatcher, dispatcherBulk]) {
      const name = exhaustedConsumerName(c);
      if (!(await jsm.consumers.info(t.streams.advisories, name).then(() => true, () => false))) absent.push(`${t.streams.advisories}/${name}`);
    }
  }
  if (problems.length) {
    rows.push({ check: 'consumers', result: 'FAIL', detail: `${problems.join('; ')} (run \`flants setup\` with these settings to change them for every daemon)` });
  } else if (absent.length) {
    rows.push({ check: 'consumers', result: missing.length ? 'FAIL' : 'warn', detail: `not created yet: ${absent.join(', ')} (\`flants setup\` or a daemon creates them)` });
  } else if (missing.length) {
    rows.push({ check: 'consumers', result: 'skip', detail: 'no streams to check' });
  } else {
    rows.push({ check: 'consumers', result: 'ok', detail: `match this configuration (ack wait ${formatDuration(config.ackWaitMs)}, ${config.maxAttempts} attempts)` });
  }
  return nc;
}

async function sourceCheck(config: FlantsConfig): Promise<DoctorCheck> {
  if (config.source.kind === 's3') {
    const [{ ListObjectsV2Command }, { makeS3Client }] = await Promise.all([import('@aws-sdk/client-s3'), import('../storage/s3-client.js')]);
    const s3 = makeS3Client(config.sourceS3);
    const where = `s3://${config.source.bucket}/${config.source.prefix}`;
    try {
      const out = await withTimeout('source', s3.send(new ListObjectsV2Command({ Bucket: config.source.bucket, Prefix: config.source.prefix, MaxKeys: 1 })));
      return { check: 'source read', result: 'ok', detail: `${where}: listed${out.KeyCount ? '' : ' (empty so far)'}` };
    } catch (err) {
      return { check: 'source read', result: 'FAIL', detail: `${where}: ${why(err)} (check FLANTS_SOURCE, FLANTS_SOURCE_ENDPOINT and the source credentials)` };
    } finally {
      s3.destroy();
    }
  }
  // Shown without credentials or query tokens; fetched without userinfo, which fetch() refuses (the daemon sends it as a header).
  const root = redactUri(config.source.root);
  try {
    const target = new URL(config.source.root);
    target.username = '';
    target.password = '';
    const res = await withTimeout('source', fetch(target, { method: 'HEAD', redirect: 'manual' }));
    // Any HTTP answer proves the origin is there; many origins refuse to list a directory (403, 404).
    return { check: 'source read', result: 'ok', detail: `${root}: HTTP ${res.status}` };
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return { check: 'source read', result: 'FAIL', detail: `${root}: ${why(cause ?? err)} (check FLANTS_SOURCE)` };
  }
}

/**
 * Writes a probe object under the destination prefix and deletes it. The
 * delete is attempted unless the service refused the write: a write that
 * timed out or lost its connection may still have landed (it once left its
 * probe behind), and a delete of a key that is not there succeeds. A failed
 * clean-up is reported with the key, so that a person can remove it.
 */
export async function destinationCheck(config: FlantsConfig, timeoutMs = PROBE_TIMEOUT_MS): Promise<DoctorCheck> {
  const [{ PutObjectCommand, DeleteObjectCommand }, { makeS3Client }] = await Promise.all([import('@aws-sdk/client-s3'), import('../storage/s3-client.js')]);
  const s3 = makeS3Client(config.destS3);
  const key = `${config.dest.prefix}${config.reportPrefix}doctor-probe-${randomBytes(6).toString('hex')}`;
  const where = `s3://${config.dest.bucket}/${key}`;
  const fix = '(check FLANTS_DEST, FLANTS_DEST_ENDPOINT and the AWS credentials)';
  try {
    // An abandoned write is cancelled before the delete, so that it cannot land after it.
    const put = new AbortController();
    const wrote = await withTimeout('destination', s3.send(new PutObjectCommand({ Bucket: config.dest.bucket, Key: key, Body: 'flants doctor probe\n' }), { abortSignal: put.signal }), timeoutMs).then(
      () => undefined,
      (err: unknown) => {
        put.abort();
        return err;
      },
    );
    // A write the service answered with a refusal (403, NoSuchBucket) left nothing to delete; one that timed
    // out or lost its connection may have landed, so its probe is deleted all the same.
    const answered = (wrote as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode !== undefined;
    const deleted = wrote && answered
      ? undefined
      : await withTimeout('destination', s3.send(new DeleteObjectCommand({ Bucket: config.dest.bucket, Key: key })), timeoutMs).then(
          () => undefined,
          (err: unknown) => err,
        );
    if (!wrote && !deleted) return { check: 'destination write', result: 'ok', detail: `wrote and deleted ${where}` };
    const cleanup = deleted ? `probe clean-up failed: ${why(deleted)}; delete ${where} by hand if it is there` : answered ? 'nothing was written' : 'probe clean-up done';
    if (wrote) return { check: 'destination write', result: 'FAIL', detail: `write ${where}: ${why(wrote)}; ${cleanup} ${fix}` };
    return { check: 'destination write', result: 'FAIL', detail: `delete ${where}: ${why(deleted)}; the probe is left behind ${fix}` };
  } finally {
    s3.destroy();
  }
}

async function lambdaCheck(config: FlantsConfig): Promise<DoctorCheck> {
  const l = config.lambda;
  if (l.functionName === 'local' && !l.endpoint) {
    return { check: 'Lambda', result: 'ok', detail: 'local: the daemon serves the transfer handler itself' };
  }
  const [{ InvokeCommand }, { makeLambdaClient }] = await Promise.all([import('@aws-sdk/client-lambda'), import('../lambda/invoke-wave.js')]);
  const client = makeLambdaClient({ functionName: l.functionName, endpoint: l.endpoint, region: l.region, local: l.functionName === 'local' }, 4);
  const where = `${l.functionName}${l.endpoint ? ` at ${l.endpoint}` : ` in ${l.region}`}`;
  try {
    const out = await withTimeout('Lambda', client.send(new InvokeCommand({ FunctionName: l.functionName, InvocationType: 'DryRun', Payload: new TextEncoder().encode('{}') })));
    return { check: 'Lambda', result: 'ok', detail: `${where}: DryRun invoke answered ${out.StatusCode ?? '?'}` };
  } catch (err) {
    return { check: 'Lambda', result: 'FAIL', detail: `${where}: ${why(err)} (check FLANTS_LAMBDA, FLANTS_LAMBDA_ENDPOINT and lambda:InvokeFunction permission)` };
  } finally {
    client.destroy();
  }
}

/** Runs every check; NATS first, then the storage and Lambda checks at once. */
export async function runDoctor(config: FlantsConfig): Promise<DoctorCheck[]> {
  const rows: DoctorCheck[] = [];
  const nc = await natsChecks(config, rows);
  try {
    rows.push(...(await Promise.all([sourceCheck(config), destinationCheck(config), lambdaCheck(config)])));
  } finally {
    await nc?.close();
  }
  return rows;
}

/** The table, padded for a terminal. */
export function formatDoctor(rows: readonly DoctorCheck[]): string {
  const w = Math.max(...rows.map((r) => r.check.length));
  return rows.map((r) => `${r.check.padEnd(w)}  ${r.result.padEnd(4)}  ${r.detail}`).join('\n');
}

/** Prints the table (or JSON) and returns 0 when nothing failed, else 1. */
export async function runDoctorCommand(config: FlantsConfig, json: boolean, out: NodeJS.WritableStream): Promise<ExitCode> {
  const rows = await runDoctor(config);
  const failed = rows.filter((r) => r.result === 'FAIL');
  out.write(`${json ? JSON.stringify({ ok: failed.length === 0, checks: rows }, null, 2) : formatDoctor(rows)}\n`);
  if (!json) out.write(failed.length ? `\n${failed.length} of ${rows.length} checks failed\n` : `\nall ${rows.length} checks passed\n`);
  return failed.length ? EXIT.failed : EXIT.ok;
}
