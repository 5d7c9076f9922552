/**
 * Starts the selected actors in this process against one NATS connection.
 * Used by `flants daemon`, `flants demo` and the end-to-end tests alike.
 */
import { getHeapStatistics } from 'node:v8';
import { jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { AggregatorHandle } from '../actors/aggregator.js';
import type { DispatcherHandle } from '../actors/dispatcher.js';
import type { FlantsConfig } from '../config/load-config.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { RuntimeHandle } from '../streams/actor-runtime.js';
import { startFleetPresence } from '../observability/fleet-presence.js';
import { ensureTopology, openClassStateKv, openPartsKv, topologyOptions } from '../streams/ensure-topology.js';
import { assertStateBucketsSafe, assertStateReplicasSafe } from '../streams/state-replicas.js';
import { topology } from '../streams/topology.js';
import { createMetrics, startMetricsServer } from '../observability/metrics.js';
import { CliError, connectOrExplain, EXIT } from './failures.js';
import type { startDashboardFor } from './dashboard-for.js';
import { isTransientNatsError } from '../streams/transient-error.js';

/**
 * The heap budget recommended for each actor process (README, Memory). An
 * actor's live heap is 50–65 MB at 1,000,000 files, but on a large machine V8
 * lets the heap grow toward gigabytes before it collects. A 128 MB old space
 * holds a 4 MiB playlist (~100,000 segments) with room to spare; small young
 * generations keep per-message garbage short-lived.
 */
export const ACTOR_NODE_OPTIONS = '--max-old-space-size=128 --max-semi-space-size=4';

/** The actors a daemon can run. */
export const ACTOR_NAMES = ['scanner', 'crawler', 'dispatcher', 'aggregator'] as const;
export type ActorName = (typeof ACTOR_NAMES)[number];

/** Parses `--actors a,b`; throws naming an unknown actor. */
export function parseActors(list: string | undefined): ActorName[] {
  if (!list || list === 'all') return [...ACTOR_NAMES];
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(ACTOR_NAMES as readonly string[]).includes(n)) {
      throw new Error(`unknown actor ${JSON.stringify(n)}; choose from ${ACTOR_NAMES.join(', ')}`);
    }
  }
  return names as ActorName[];
}

/** A running daemon. */
export interface Daemon {
  readonly nc: NatsConnection;
  readonly actors: ReadonlyMap<ActorName, RuntimeHandle>;
  readonly dispatcher?: DispatcherHandle;
  readonly aggregator?: AggregatorHandle;
  /** The dashboard's URL when this daemon serves it. */
  readonly dashboardUrl?: string;
  /** The Prometheus endpoint of this process, when enabled. */
  readonly metricsUrl?: string;
  /** Drains in-flight work and closes the connection. Safe to call twice. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Connects and starts `actors`; creates streams and consumers idempotently first. */
export async function startDaemon(o: {
  config: FlantsConfig;
  logger: Logger;
  actors?: readonly ActorName[];
  /** Warn when the process has no heap budget (the long-running `flants daemon`, not the demo or tests). */
  warnUnboundedHeap?: boolean;
}): Promise<Daemon> {
  const { config, logger } = o;
  const wanted = o.actors ?? ACTOR_NAMES;
  const nc = await connectOrExplain(config.nats, `flants-${wanted.join('+')}`, { maxReconnectAttempts: -1, reconnectTimeWait: 1_000 });
  const t = topology(config.namespace);
  const actors = new Map<ActorName, RuntimeHandle>();
  // What a failed start must close besides the actors, so that a retried start can bind its ports again.
  const started: Array<() => unknown> = [];
  let topologyInPlace = false;
  try {
    assertStateReplicasSafe(nc.info?.version, config.stateReplicas);
    const jsm = await jetstreamManager(nc);
    // Only the buckets this process writes: a least-privilege user may not read the others.
    await assertStateBucketsSafe(jsm, nc.info?.version, [
      ...(wanted.includes('aggregator') ? [t.kv.classes] : []),
      ...(wanted.includes('dispatcher') ? [t.kv.parts] : []),
    ]);
    await ensureTopology(jsm, t, topologyOptions(config), wanted.map((a) => t.consumers[a]));
    topologyInPlace = true;
    const js = jetstream(nc);
    const metrics = createMetrics({ jsm, topology: t });
    const metricsServer = config.metrics.enabled
      ? await startMetricsServer(metrics.registry, config.metrics.port, config.metrics.host).catch((err) => {
          logger.warn({ err, port: config.metrics.port }, 'metrics endpoint not started (port in use?); the daemon runs without it');
          return undefined;
        })
      : undefined;
    if (metricsServer) started.push(() => metricsServer.close());
    // Each actor's modules load only in a process that runs it: a split
    // dispatcher never loads the S3 SDK or the playlist parser, and a crawler
    // of an HTTP origin never loads the Lambda client (4–11 MB less idle RSS
    // per split actor, measured).
    const common = { js, jsm, serverVersion: nc.info?.version, topology: t, config, logger };
    let dashboard: Awaited<ReturnType<typeof startDashboardFor>>;
    let sourceS3: S3Client | undefined;
    if (wanted.includes('aggregator')) {
      const [{ startAggregator }, { makeS3Client }] = await Promise.all([import('../actors/aggregator.js'), import('../storage/s3-client.js')]);
      const kv = await openClassStateKv(nc, t, config.stateReplicas);
      actors.set('aggregator', await startAggregator({ ...common, kv, dest: makeS3Client(config.destS3), metrics }));
      if (config.dashboard.enabled) {
        dashboard = await (await import('./dashboard-for.js')).startDashboardFor({ config, nc, jsm, kv, topology: t, logger });
        started.push(() => dashboard?.close());
      }
    }
    if (wanted.includes('dispatcher')) {
      const [{ startDispatcher }, { makeLambdaClient }] = await Promise.all([import('../actors/dispatcher.js'), import('../lambda/invoke-wave.js')]);
      const lambda = makeLambdaClient({
        functionName: config.lambda.functionName,
        endpoint: config.lambda.endpoint,
        region: config.lambda.region,
        local: config.lambda.functionName === 'local',
      });
      const parts = await openPartsKv(nc, t, config.stateReplicas);
      actors.set('dispatcher', await startDispatcher({ ...common, nc, lambda, metrics, parts }));
    }
    if (wanted.includes('crawler') || wanted.includes('scanner')) {
      const { root, reader, s3 } = await (await import('../storage/open-source.js')).openSource(config);
      sourceS3 = s3;
      started.push(() => s3?.destroy());
      if (wanted.includes('crawler')) actors.set('crawler', await (await import('../actors/crawler.js')).startCrawler({ ...common, nc, reader, root }));
      if (wanted.includes('scanner')) actors.set('scanner', await (await import('../actors/scanner.js')).startScanner({ ...common, reader, root }));
    }
    // The MongoDB driver loads only where a catalogue is followed.
    const watcher = wanted.includes('scanner') && config.catalogue?.watch
      ? await (await import('./catalogue-watch.js')).startCatalogueWatch(config, js, t, logger)
      : undefined;
    started.push(() => watcher?.stop());
    // Every process shows in the fleet view (`flants status`, the dashboard) while it runs.
    const presence = await startFleetPresence({ nc, topology: t, replicas: config.streamReplicas, actors, logger });
    logger.info({ actors: [...actors.keys()], nats: config.natsUrl, namespace: config.namespace || undefined }, 'daemon started');
    const heapLimitMb = Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
    if (o.warnUnboundedHeap && heapLimitMb > 1_024) {
      logger.warn({ heapLimitMb, recommended: ACTOR_NODE_OPTIONS }, 'no heap budget: V8 may grow this process far past its live heap; set NODE_OPTIONS (README, Operations, Memory)');
    }

    let stopped: Promise<void> | undefined;
    const stop = () => {
      // All at once: each actor finishes what it holds; whatever an upstream actor
      // hands on meanwhile waits in its durable stream for the next start.
      stopped ??= (async () => {
        await watcher?.stop();
        await dashboard?.close();
        await metricsServer?.close();
        await Promise.all([...actors.values()].map((a) => a.stop()));
        await presence.stop();
        await nc.drain().catch(() => undefined);
        sourceS3?.destroy();
        logger.info('daemon stopped');
      })();
      return stopped;
    };
    return {
      nc,
      actors,
      dispatcher: actors.get('dispatcher') as DispatcherHandle | undefined,
      aggregator: actors.get('aggregator') as AggregatorHandle | undefined,
      dashboardUrl: dashboard?.url,
      metricsUrl: metricsServer?.url,
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    // What started stops first: a retried start must find no pull loop left on a closed connection, and its ports free.
    // Bounded: what an actor holds comes back after the ack wait anyway, and a stuck handler must not hold up the error.
    // Actors first, as stop() does: their crawls in flight still need the source client.
    const stopped = Promise.allSettled([...actors.values()].map((a) => a.stop()));
    await Promise.race([stopped, new Promise((r) => setTimeout(r, FAILED_START_CLEANUP_MS).unref())]);
    await Promise.allSettled(started.map(async (close) => close()));
    await nc.close();
    const notFound = causes(err).some((e) => e instanceof JetStreamApiError && (e.code === JetStreamApiCodes.ConsumerNotFound || e.code === JetStreamApiCodes.StreamNotFound));
    if (topologyInPlace && notFound) {
      throw new TopologyPropagatingError(`${(err as Error).message} just after the start found or created every stream and consumer it needs`, { cause: err });
    }
    throw err;
  }
}

/** An error and the chain of its causes (a check may wrap what the server said). */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && chain.length < 8; e = (e as { cause?: unknown } | null)?.cause) chain.push(e);
  return chain;
}

/**
 * A stream or consumer that `ensureTopology` had just found or created is
 * reported missing: seen on a 3-node 2.9 cluster while a second daemon
 * started beside the first (the daemon exited, `internal error:
 * ConsumerNotFoundError`). A cluster still agreeing on it: the start is
 * retried, for PROPAGATION_RETRY_MS.
 */
class TopologyPropagatingError extends Error {
  override name = 'TopologyPropagatingError';
}

/** How long a start keeps trying through a cluster's leader election before it gives up. */
export const START_RETRY_MS = 60_000;
/** How long a stream or consumer found a moment before may be reported missing before the start gives up. */
const PROPAGATION_RETRY_MS = 15_000;
/** How long a failed start waits for what it started to stop before it reports why it failed. */
const FAILED_START_CLEANUP_MS = 5_000;

/** True for what a leader election or a node restart does to a request; a refusal or a bad setting is not one. */
function isTransientStartError(err: unknown): boolean {
  const e = err as Error & { code?: unknown };
  if (err instanceof TopologyPropagatingError) return true;
  if (e?.name === 'CliError' || e?.name === 'TopologyMismatchError' || e?.name === 'UnsafeStateReplicasError' || e?.name === 'ConfigError') return false;
  return isTransientNatsError(err);
}

/**
 * Starts the daemon, and starts it again when a JetStream cluster electing a
 * leader (a node died or restarts) times out one of its start-up requests:
 * a daemon that exits then is one less worker until someone restarts it. A
 * failed attempt closes its connection, so whatever it had pulled is redone
 * after the ack wait.
 */
export async function startDaemonRetrying(o: Parameters<typeof startDaemon>[0], retryMs = START_RETRY_MS): Promise<Daemon> {
  const until = Date.now() + retryMs;
  let missingSince = 0;
  for (let pause = 500; ; pause = Math.min(pause * 2, 5_000)) {
    try {
      return await startDaemon(o);
    } catch (err) {
      if (err instanceof TopologyPropagatingError) {
        missingSince ||= Date.now();
        if (Date.now() - missingSince + pause > Math.min(PROPAGATION_RETRY_MS, retryMs)) {
          throw new CliError(
            `${err.message}, and still ${Math.round((Date.now() - missingSince) / 1000)} s later; run \`flants setup\`, and check that nothing deletes flants' streams or consumers`,
            EXIT.unreachable,
            { cause: err.cause },
          );
        }
      }
      if (!isTransientStartError(err) || Date.now() + pause > until) throw err;
      o.logger.warn({ err, retryInMs: pause }, 'start interrupted (a NATS node or leader is changing); starting again');
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
