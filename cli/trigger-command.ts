/**
 * `flants trigger <classId> [--wait]`: announces a class and, with --wait,
 * follows that one run to its outcome, like `aws ... wait` or `rclone copy`.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { ConnectionConfig } from '../config/load-config.js';
import { formatDuration } from '../config/durations.js';
import { classView } from '../dashboard/class-view.js';
import { classRecordedSchema, safeJson, type ClassTransferred } from '../streams/messages.js';
import { runIdFor } from '../streams/run-id.js';
import { topology } from '../streams/topology.js';
import type { ClassStateJson } from '../tracking/class-progress.js';
import { runStateKey } from '../tracking/run-keys.js';
import { CliError, EXIT, connectOrExplain, type ExitCode } from './failures.js';
import { progressBars } from './progress-bars.js';

/** What `flants trigger` was asked to do. */
export interface TriggerOptions {
  readonly classId: string;
  readonly manifest?: string;
  readonly wait: boolean;
  /** Only with `wait`: give up after this long (exit 3); undefined waits for the outcome however long. */
  readonly timeoutMs?: number;
  readonly json: boolean;
}

/** Where the command writes: stdout for results, stderr for live progress (a terminal only). */
export interface TriggerOutput {
  readonly out: NodeJS.WritableStream;
  readonly progress?: NodeJS.WriteStream;
}

/** The stored time of the trigger at `seq`, in whole milliseconds, as the scanner reads it for the run id. */
function storedMillis(timestamp: string): number {
  // RFC 3339 with nanoseconds: keep the milliseconds, dropping (flooring) the rest.
  return Date.parse(timestamp.replace(/(\.\d{3})\d+/, '$1'));
}

function exitCodeOf(outcome: ClassTransferred): ExitCode {
  return outcome.status === 'complete' ? EXIT.ok : EXIT.failed;
}

/** One line about an outcome, for people. */
export function formatOutcome(o: ClassTransferred): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  const parts = [
    `${o.files} files`,
    `${mb(o.bytes)} copied`,
    o.unchanged ? `${o.unchanged} unchanged (${mb(o.verifiedBytes)})` : '',
    o.failed.length ? `${o.failed.length} failed` : '',
    o.refused ? `${o.refused} refused` : '',
    o.retries ? `${o.retries} retries` : '',
  ].filter(Boolean);
  const lines = [`${o.status} ${o.classId} (run ${o.runId}): ${parts.join(', ')}${o.reason ? `; ${o.reason}` : ''}`];
  for (const f of o.failed.slice(0, 5)) lines.push(`  failed ${f.key}: ${f.reasons.at(-1) ?? ''}`);
  if (o.failed.length > 5) lines.push(`  … and ${o.failed.length - 5} more in the report`);
  lines.push(`  report: ${o.reportKey}`);
  return lines.join('\n');
}

/** Publishes the trigger; with `wait`, follows the run and returns its exit code. */
export async function runTriggerCommand(config: ConnectionConfig, o: TriggerOptions, io: TriggerOutput): Promise<ExitCode> {
  const payload = classRecordedSchema.safeParse({ classId: o.classId, manifest: o.manifest });
  if (!payload.success) {
    throw new CliError(`invalid class: ${payload.error.issues.map((i) => i.message).join('; ')} (see flants trigger --help)`, EXIT.usage);
  }
  const nc = await connectOrExplain(config.nats, 'flants-trigger');
  const t = topology(config.namespace);
  try {
    // Without a stream yet (no daemon has started), the trigger would be lost: say so.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.info(t.streams.classes).catch(() => {
      const ns = config.namespace ? ` in namespace ${config.namespace}` : ' (FLANTS_NAMESPACE is empty)';
      throw new CliError(`stream ${t.streams.classes} does not exist${ns} (run \`flants setup\` or start \`flants daemon\` once, or check FLANTS_NAMESPACE)`, EXIT.usage);
    });
    const js = jetstream(nc);
    const ack = await js.publish(t.subjects.recorded, JSON.stringify(payload.data));
    if (!o.wait) {
      io.out.write(`queued ${o.classId} on ${t.subjects.recorded} (stream ${ack.stream}, seq ${ack.seq})\n`);
      return EXIT.ok;
    }
    const stored = await jsm.streams.getMessage(t.streams.classes, { seq: ack.seq });
    if (!stored) throw new CliError(`trigger ${ack.seq} vanished from ${t.streams.classes} before it could be followed (check the stream's limits)`, EXIT.failed);
    const runId = runIdFor(ack.seq, storedMillis(stored.timestamp));
    if (!o.json) io.out.write(`queued ${o.classId} (run ${runId}); waiting for its outcome\n`);

    // A bar redrawn in place on a terminal; nothing on a pipe, whose reader wants the outcome only.
    const bar = io.progress?.isTTY && !o.json ? progressBars(io.progress) : undefined;
    const kv = bar ? await new Kvm(nc).open(t.kv.classes).catch(() => undefined) : undefined;
    const draw = async () => {
      const e = await kv?.get(runStateKey(o.classId, runId)).catch(() => null);
      if (!bar || !e || e.operation !== 'PUT' || e.length === 0) return;
      bar.show([classView(e.json<ClassStateJson>())]);
    };
    const ticker = bar ? setInterval(() => void draw(), 500) : undefined;
    let timer: NodeJS.Timeout | undefined;
    let stopFollowing = () => undefined as void;
    try {
      // Outcomes are read from the stream, from the trigger on, by an ordered consumer: one published
      // while the connection was down is still seen, and a stray message on the subject is skipped.
      const outcomes = await js.consumers.get(t.streams.classes, {
        filter_subjects: t.subjects.transferred,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: ack.seq,
      });
      const messages = await outcomes.consume();
      stopFollowing = () => void messages.stop();
      const outcome = await new Promise<ClassTransferred | undefined>((resolve, reject) => {
        if (o.timeoutMs !== undefined) timer = setTimeout(() => resolve(undefined), o.timeoutMs);
        void (async () => {
          for await (const m of messages) {
            const e = safeJson(m.data) as Partial<ClassTransferred> | undefined;
            if (e?.runId === runId && e.classId === o.classId) return resolve(e as ClassTransferred);
          }
          reject(new CliError('lost the NATS connection while waiting for the outcome (check nats-server; NATS_URL)', EXIT.unreachable));
        })().catch(reject);
      });
      bar?.stop();
      if (!outcome) {
        throw new CliError(
          `no outcome for ${o.classId} (run ${runId}) within ${formatDuration(o.timeoutMs ?? 0)}; the run goes on ` +
            `(is a daemon running? follow it with \`flants status --class ${o.classId} --watch\`, or raise --timeout)`,
          EXIT.unreachable,
        );
      }
      io.out.write(`${o.json ? JSON.stringify(outcome) : formatOutcome(outcome)}\n`);
      return exitCodeOf(outcome);
    } finally {
      clearTimeout(timer);
      clearInterval(ticker);
      bar?.stop();
      stopFollowing();
    }
  } finally {
    await nc.close();
  }
}
