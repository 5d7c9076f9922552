/**
 * A whole flants pipeline on real parts, for tests that watch it work: a
 * nats-server, an s3rver destination, the local Lambda endpoint, an HTTP
 * origin serving `files`, and a daemon running every actor (or `actors`).
 * Disposing it stops all of them.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { S3Client } from '@aws-sdk/client-s3';
import { startDaemon, type ActorName } from '../../cli/daemon.js';
import type { FlantsConfig } from '../../config/load-config.js';
import { startLocalLambda } from '../../lambda/local-endpoint.js';
import { topology, type Topology } from '../../streams/topology.js';
import { startOrigin, type Origin } from './origin.js';
import { natsClient, pipelineConfig, s3For, startNats, startS3, testLogger, watchOutcomes, type Outcomes } from './services.js';

/** A running pipeline and a client connection to watch it. */
export interface Pipeline extends AsyncDisposable {
  readonly origin: Origin;
  readonly config: FlantsConfig;
  readonly t: Topology;
  readonly client: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly outcomes: Outcomes;
  /** The destination bucket `dest-bucket`. */
  readonly s3: S3Client;
}

/** Starts it; `lambda: false` runs no Lambda endpoint (for a daemon without a dispatcher). */
export async function startPipeline(
  files: Record<string, string>,
  env: Record<string, string> = {},
  o: { lambda?: { concurrency: number; workers: number } | false; actors?: readonly ActorName[] } = {},
): Promise<Pipeline> {
  const nats = await startNats();
  const dst = await startS3('dest-bucket');
  const lambdaOptions = o.lambda ?? { concurrency: 2, workers: 1 };
  const lambda = lambdaOptions ? await startLocalLambda({ ...lambdaOptions, timeoutMs: 60_000 }) : undefined;
  const origin = await startOrigin(files);
  const config = pipelineConfig({ nats, origin, dest: dst, lambda }, env);
  const daemon = await startDaemon({ config, logger: testLogger(), actors: o.actors });
  const client = await natsClient(nats.url);
  const t = topology(config.namespace);
  const outcomes = watchOutcomes(client, t.subjects.transferred);
  return {
    origin, config, t, client, outcomes,
    js: jetstream(client),
    jsm: await jetstreamManager(client),
    s3: s3For(dst),
    async [Symbol.asyncDispose]() {
      outcomes.stop();
      await daemon.stop();
      await client.close();
      await Promise.all([origin.close(), lambda?.close(), dst.close(), nats.close()]);
    },
  };
}

/** A subscription subject for `class crawled` in either lane (flants.agg.crawled, flants.agg-bulk.crawled). */
export function crawledInEitherLane(t: Topology): string {
  const either = t.subjects.crawled.replace(/\.agg\.crawled$/, '.*.crawled');
  if (either === t.subjects.crawled || !t.subjects.crawledBulk.endsWith('.agg-bulk.crawled')) throw new Error('the crawled subjects changed: update crawledInEitherLane');
  return either;
}
