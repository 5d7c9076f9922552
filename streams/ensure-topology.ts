/**
 * Creates or updates every stream, consumer and KV bucket idempotently, so that
 * starting a daemon twice, or two daemons at once, is safe.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { exhaustedConsumerName, maxDeliveriesSubject } from './exhausted-messages.js';
import { redeliveryCap } from './outcome-policy.js';
import type { Topology } from './topology.js';

/** What the topology needs from configuration. */
export interface TopologyOptions {
  readonly maxAttempts: number;
  readonly ackWaitMs: number;
  /** 0 keeps `class.recorded` history forever. */
  readonly recordedMaxAgeMs: number;
  /** Upper bound of un-acked transfer jobs across all dispatchers. */
  readonly dispatcherMaxAckPending: number;
  /** Stream replicas: 3 on a JetStream cluster, 1 on a single server. */
  readonly replicas: number;
}

const nanos = (ms: number) => ms * 1_000_000;

/** Crawls that may wait for their time at once on the crawl consumer: recordings watched, classes under way. */
const CRAWLS_WAITING = 10_000;

function streamConfigs(t: Topology, o: TopologyOptions): Array<Partial<StreamConfig> & { name: string }> {
  return [
    {
      // Limits retention keeps the trigger history for replay audits; class.transferred
      // shares it so that its Nats-Msg-Id dedupe makes the outcome event exactly-once.
      name: t.streams.classes,
      subjects: [t.subjects.recorded, t.subjects.recordedBulk, t.subjects.transferred],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: o.replicas,
      max_age: nanos(o.recordedMaxAgeMs),
      duplicate_window: nanos(60 * 60_000),
    },
    {
      // Work queue: a job is gone once acked. The dedupe window covers a crawl's
      // retry (ack wait, backoff, the crawl itself), so a re-crawled class does not
      // enqueue its files twice. It is kept short on purpose: nats-server holds
      // every message id of the window in memory, and at 13,000 jobs/s a
      // 20-minute window held 16 million ids, 4.8 GB of nats-server RSS. A job
      // enqueued twice after the window is copied twice and counted once.
      name: t.streams.work,
      subjects: [t.subjects.crawl, t.subjects.transfer, t.subjects.crawlBulk, t.subjects.transferBulk],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: o.replicas,
      duplicate_window: nanos(Math.max(60_000, o.ackWaitMs * 4)),
    },
    {
      name: t.streams.events,
      subjects: [t.subjects.aggregate, t.subjects.aggregateBulk],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      num_replicas: o.replicas,
      duplicate_window: nanos(20 * 60_000),
    },
    {
      name: t.streams.deadletter,
      subjects: [t.subjects.deadletter],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: o.replicas,
      max_age: nanos(30 * 86_400_000),
    },
    {
      // Advisories are core NATS: kept here, none is lost while no daemon listens.
      name: t.streams.advisories,
      subjects: [maxDeliveriesSubject(t.streams.classes, '*'), maxDeliveriesSubject(t.streams.work, '*')],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: o.replicas,
      max_age: nanos(7 * 86_400_000),
    },
  ];
}

/** One durable consumer; `owner` is the actor it serves (itself unless said otherwise). */
interface ConsumerSpec {
  readonly stream: string;
  readonly owner?: string;
  readonly config: Partial<ConsumerConfig> & { durable_name: string };
}

function consumerConfigs(t: Topology, o: TopologyOptions): ConsumerSpec[] {
  // The server-side redelivery cap sits above our own attempt counting: the
  // actors publish the final failure themselves, and this only stops a message
  // that kills its process every time from looping forever; its advisory
  // still gets the message an outcome (streams/exhausted-messages.ts).
  const backstop = redeliveryCap(o.maxAttempts);
  const base = { ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: nanos(o.ackWaitMs) };
  return [
    {
      stream: t.streams.classes,
      config: { ...base, durable_name: t.consumers.scanner, filter_subject: t.subjects.recorded, max_deliver: backstop, max_ack_pending: 256 },
    },
    {
      stream: t.streams.classes,
      owner: t.consumers.scanner,
      config: { ...base, durable_name: t.consumers.scannerBulk, filter_subject: t.subjects.recordedBulk, max_deliver: backstop, max_ack_pending: 256 },
    },
    {
      // Each recording being watched (re-crawled every FLANTS_LIVE_RECRAWL_INTERVAL), and each class under way that
      // waits for room, is a not-due nak here, counted against max_ack_pending until it is due: at 64, a scan's 64
      // unended recordings kept live triggers and the rest of the scan from being delivered (review).
      stream: t.streams.work,
      config: { ...base, durable_name: t.consumers.crawler, filter_subject: t.subjects.crawl, max_deliver: backstop, max_ack_pending: CRAWLS_WAITING },
    },
    {
      stream: t.streams.work,
      config: {
        ...base,
        durable_name: t.consumers.dispatcher,
        filter_subject: t.subjects.transfer,
        max_deliver: backstop,
        max_ack_pending: o.dispatcherMaxAckPending,
      },
    },
    {
      stream: t.streams.work,
      owner: t.consumers.crawler,
      config: { ...base, durable_name: t.consumers.crawlerBulk, filter_subject: t.subjects.crawlBulk, max_deliver: backstop, max_ack_pending: 64 },
    },
    {
      stream: t.streams.work,
      owner: t.consumers.dispatcher,
      config: {
        ...base,
        durable_name: t.consumers.dispatcherBulk,
        filter_subject: t.subjects.transferBulk,
        max_deliver: backstop,
        max_ack_pending: o.dispatcherMaxAckPending,
      },
    },
    {
      stream: t.streams.events,
      config: { ...base, durable_name: t.consumers.aggregator, filter_subject: t.subjects.aggregate, max_deliver: -1, max_ack_pending: 20_000 },
    },
    {
      stream: t.streams.events,
      owner: t.consumers.aggregator,
      config: { ...base, durable_name: t.consumers.aggregatorBulk, filter_subject: t.subjects.aggregateBulk, max_deliver: -1, max_ack_pending: 20_000 },
    },
    ...(
      [
        [t.streams.classes, t.consumers.scanner, t.consumers.scanner],
        [t.streams.classes, t.consumers.scannerBulk, t.consumers.scanner],
        [t.streams.work, t.consumers.crawler, t.consumers.crawler],
        [t.streams.work, t.consumers.dispatcher, t.consumers.dispatcher],
        [t.streams.work, t.consumers.crawlerBulk, t.consumers.crawler],
        [t.streams.work, t.consumers.dispatcherBulk, t.consumers.dispatcher],
      ] as const
    ).map(([stream, consumer, owner]) => ({
      stream: t.streams.advisories,
      owner,
      config: {
        ...base,
        ack_wait: nanos(30_000),
        durable_name: exhaustedConsumerName(consumer),
        filter_subject: maxDeliveriesSubject(stream, consumer),
        max_deliver: -1,
        max_ack_pending: 64,
      },
    })),
  ];
}

const ALREADY_EXISTS = new Set([10058, 10013, 10148, 10105]);

/** The server's answers to a create that mean it exists already (on 2.10+, also: with other settings). */
export function isAlreadyExists(err: unknown): boolean {
  return err instanceof JetStreamApiError && ALREADY_EXISTS.has(err.code);
}

/**
 * A least-privilege user may not create streams (an admin ran `flants setup`):
 * then it is enough that the thing exists. Anything else is the original error.
 */
async function orExisting(what: string, err: unknown, exists: () => Promise<unknown>): Promise<void> {
  const lookup = await exists().then(() => undefined, (e: unknown) => e as Error);
  if (!lookup) return;
  throw new Error(
    `${what} could not be created (${(err as Error).message}) nor found (${lookup.message}); run \`flants setup\` as a user allowed to create it ` +
      "(after an upgrade, once: the new version's setup adds what it needs, such as the bulk lane's consumers)",
    { cause: err },
  );
}

/** A daemon's settings differ from the ones its consumers were created with. */
export class TopologyMismatchError extends Error {
  override name = 'TopologyMismatchError';
}

async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }, reconfigure: boolean): Promise<void> {
  try {
    await jsm.streams.add(cfg);
  } catch (err) {
    if (!isAlreadyExists(err)) {
      await orExisting(`stream ${cfg.name}`, err, () => jsm.streams.info(cfg.name));
      return addMissingSubjects(jsm, cfg);
    }
    if (!reconfigure) return addMissingSubjects(jsm, cfg); // `flants setup` owns its other settings
    const { name, storage: _storage, retention: _retention, ...rest } = cfg;
    await jsm.streams.update(name, rest).catch((e: unknown) => orExisting(`stream ${name}`, e, () => jsm.streams.info(name)));
  }
}

/**
 * A stream set up by an older flants lacks the subjects added since (the bulk
 * trigger subject): without them, a scan's publishes find no stream. Adding a
 * subject changes nothing anyone else relies on, so any daemon may do it; one
 * not allowed to is told to run the new `flants setup` once.
 */
async function addMissingSubjects(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  const info = await jsm.streams.info(cfg.name);
  const have = info.config.subjects ?? [];
  const missing = (cfg.subjects ?? []).filter((s) => !have.some((h) => subjectCovers(h, s)));
  if (missing.length === 0) return;
  await jsm.streams.update(cfg.name, { subjects: [...have, ...missing] }).catch((err: unknown) => {
    throw new Error(
      `stream ${cfg.name} was set up by an older flants and lacks ${missing.join(', ')}, which this version publishes on, ` +
        `and this user may not add it (${(err as Error).message}); run this version's \`flants setup\` once as the admin user`,
      { cause: err },
    );
  });
}

/** True when the subject filter `pattern` (with NATS's `*` and `>` wildcards) takes in `subject`. */
export function subjectCovers(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** The consumer settings every daemon must agree on, with the setting a person changes for each. */
const AGREED: ReadonlyArray<readonly [keyof ConsumerConfig, string, (v: unknown) => string]> = [
  ['ack_wait', 'FLANTS_ACK_WAIT', (v) => `${Number(v) / 1e9}s`],
  ['max_deliver', 'FLANTS_MAX_ATTEMPTS', (v) => `${String(v)} deliveries`],
  ['filter_subject', 'FLANTS_NAMESPACE', (v) => String(v)],
];

/** How the server's consumer differs from the one wanted, one phrase per setting. */
export function consumerDifferences(have: Partial<ConsumerConfig>, want: Partial<ConsumerConfig>): string[] {
  return AGREED.filter(([k]) => want[k] !== undefined && have[k] !== want[k]).map(
    ([k, env, show]) => `${String(k)} is ${show(have[k])} on the server but ${show(want[k])} here (${env})`,
  );
}

/**
 * Creates the consumer if missing. An existing one keeps its settings: only
 * `reconfigure` (flants setup) changes them; a daemon that wants different
 * ones refuses to start, so two daemons never silently override each other.
 */
async function ensureConsumer(jsm: JetStreamManager, stream: string, cfg: Partial<ConsumerConfig> & { durable_name: string }, reconfigure: boolean): Promise<void> {
  const exists = () => jsm.consumers.info(stream, cfg.durable_name);
  let have = await exists().catch(() => undefined);
  if (!have) {
    try {
      await jsm.consumers.add(stream, cfg);
      return;
    } catch (err) {
      have = await exists().catch(() => undefined);
      if (!have) return orExisting(`consumer ${stream}/${cfg.durable_name}`, err, exists);
    }
  }
  const diffs = consumerDifferences(have.config, cfg);
  // Settings a daemon need not agree on (max_ack_pending) are still the owner's to bring up to date.
  const stale = reconfigure && cfg.max_ack_pending !== undefined && have.config.max_ack_pending !== cfg.max_ack_pending;
  if (diffs.length === 0 && !stale) return;
  if (!reconfigure) {
    throw new TopologyMismatchError(
      `consumer ${stream}/${cfg.durable_name} was set up with other settings: ${diffs.join('; ')}. ` +
        'Start every daemon with the same settings, or run `flants setup` with the new ones to change them for all.',
    );
  }
  const { durable_name, deliver_policy: _dp, ...rest } = cfg;
  await jsm.consumers.update(stream, durable_name, rest).catch((e: unknown) => orExisting(`consumer ${stream}/${durable_name}`, e, exists));
}

/** One consumer's settings as a daemon with options `o` creates it (streams/recreate-consumer.ts creates it again so). */
export function consumerConfigFor(t: Topology, o: TopologyOptions, durable: string): (Partial<ConsumerConfig> & { durable_name: string }) | undefined {
  return consumerConfigs(t, o).find((c) => c.config.durable_name === durable)?.config;
}

/**
 * Creates every stream, and the consumers of `consumers` (all by default: a
 * daemon passes the actors it runs, so that a least-privilege user touches
 * only its own). Existing settings are kept unless `reconfigure` is set (the
 * owner, `flants setup`); a daemon whose consumer settings differ refuses with
 * TopologyMismatchError. Safe to call concurrently from many daemons.
 */
export async function ensureTopology(
  jsm: JetStreamManager,
  t: Topology,
  o: TopologyOptions,
  consumers?: readonly string[],
  reconfigure = false,
): Promise<void> {
  for (const s of streamConfigs(t, o)) await ensureStream(jsm, s, reconfigure);
  for (const c of consumerConfigs(t, o)) {
    if (!consumers || consumers.includes(c.owner ?? c.config.durable_name)) await ensureConsumer(jsm, c.stream, c.config, reconfigure);
  }
}

/** Topology options as configuration sets them; every entry point that publishes uses this. */
export function topologyOptions(config: { maxAttempts: number; ackWaitMs: number; recordedMaxAgeMs: number; batchSize: number; waveConcurrency: number; streamReplicas?: number }): TopologyOptions {
  return {
    replicas: config.streamReplicas ?? 1,
    maxAttempts: config.maxAttempts,
    ackWaitMs: config.ackWaitMs,
    recordedMaxAgeMs: config.recordedMaxAgeMs,
    dispatcherMaxAckPending: Math.max(1_000, config.batchSize * config.waveConcurrency * 4),
  };
}

/** Opens a KV bucket, creating it if needed and allowed: a least-privilege actor binds to the one `flants setup` made. */
async function openKv(nc: NatsConnection, name: string, replicas: number, ttlMs?: number): Promise<KV> {
  const kvm = new Kvm(nc);
  try {
    return await kvm.create(name, { history: 1, storage: StorageType.File, replicas, ttl: ttlMs });
  } catch (err) {
    return kvm.open(name).catch(() => {
      throw err;
    });
  }
}

/** Opens the aggregator's class-state KV bucket. */
export function openClassStateKv(nc: NatsConnection, t: Topology, replicas = 1): Promise<KV> {
  return openKv(nc, t.kv.classes, replicas);
}

/** How long a split file's part record is kept: far longer than any file takes to copy. */
const PARTS_TTL_MS = 7 * 24 * 3600_000;

/** Opens the dispatchers' split-file part record. */
export function openPartsKv(nc: NatsConnection, t: Topology, replicas = 1): Promise<KV> {
  return openKv(nc, t.kv.parts, replicas, PARTS_TTL_MS);
}

/** How long a process's presence record outlives its last renewal: a crashed process drops out of the fleet view after this. */
export const FLEET_TTL_MS = 30_000;

/** Opens the fleet's presence bucket (every daemon writes its own record; status and the dashboard read them all). */
export function openFleetKv(nc: NatsConnection, t: Topology, replicas = 1): Promise<KV> {
  return openKv(nc, t.kv.fleet, replicas, FLEET_TTL_MS);
}
