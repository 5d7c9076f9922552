/**
 * Brings back a durable consumer deleted while its actor runs (by hand, by a
 * script cleaning up, by a cluster that lost it). Without this, every fetch
 * fails ("consumer deleted", then "heartbeats missed") and the actor pulls
 * nothing until someone restarts it, which is when a start would create it.
 * So the pull loop asks, after a failed fetch, whether the consumer is still
 * there, and creates it again with the settings it was read with at start.
 */
import { JetStreamApiCodes, JetStreamApiError, type Consumer, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';

const isCode = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;

/**
 * Returns the check to run after a failed fetch from `consumer`. It costs one
 * info request per failure (the pull loop backs off between failures). Any
 * other answer (a disconnect, a leader election) is left to the loop's retry.
 */
export async function recreateWhenDeleted(jsm: JetStreamManager, consumer: Consumer, logger: Logger): Promise<(failure: unknown) => Promise<void>> {
  const info = await consumer.info(true);
  const stream = info.stream_name;
  // What the server held at start, server defaults included: the consumer comes back as it was, not as this version
  // would create it (`flants setup` owns its settings).
  const config: Partial<ConsumerConfig> = { ...info.config };
  const name = info.config.durable_name ?? info.name;
  let running: Promise<void> | undefined;
  const check = async () => {
    try {
      await jsm.consumers.info(stream, name);
      return;
    } catch (err) {
      if (isCode(err, JetStreamApiCodes.StreamNotFound)) {
        logger.error({ stream, consumer: name }, `stream ${stream} was deleted while this actor ran; run \`flants setup\` or restart the daemon to create it`);
        return;
      }
      if (!isCode(err, JetStreamApiCodes.ConsumerNotFound)) return;
    }
    logger.error({ stream, consumer: name }, `consumer ${stream}/${name} was deleted while this actor ran; creating it again as it was`);
    // Concurrent daemons may all do this: a second add of the same settings is answered with the existing consumer.
    await jsm.consumers.add(stream, config);
    logger.warn({ stream, consumer: name }, `consumer ${stream}/${name} created again`);
  };
  // Both lanes of an actor, or a quick run of failures, share one check.
  return () => (running ??= check().finally(() => (running = undefined)));
}
