/**
 * Brings back a durable consumer deleted while its actor runs (by hand, by a
 * script cleaning up, by a cluster that lost it). Without this, every fetch
 * fails ("consumer deleted", then "heartbeats missed") and the actor pulls
 * nothing until someone restarts it, which is when a start would create it.
 * So the pull loop asks, after a failed fetch, whether the consumer is still
 * there, and, once it has been gone for a few seconds, creates it again as a
 * start of this daemon would; on a stream that keeps its messages (the
 * trigger history), from just after the last acknowledged message it knew
 * of: a deleted consumer's state is gone, and a consumer from the first
 * message would replay the whole history.
 */
import { DeliverPolicy, JetStreamApiCodes, RetentionPolicy, JetStreamApiError, type Consumer, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { isAlreadyExists } from './ensure-topology.js';

/** How often the consumer's ack floor is read, and so how much a re-created consumer may deliver again at most. */
const FLOOR_READ_MS = 10_000;
/**
 * A cluster electing a leader can answer "not found" for a moment: the
 * consumer is taken for gone only when every check for this long said so,
 * with no answer that it exists in between.
 */
const GONE_FOR_MS = 5_000;
/** Not-found answers further apart than this are unrelated: the count starts again. */
const UNRELATED_AFTER_MS = 60_000;
/** A refusal or a missing stream is logged once in this many checks, not at every failed fetch. */
const LOG_EVERY = 12;

const codeOf = (err: unknown) => (err instanceof JetStreamApiError ? err.code : undefined);

/** Watches one consumer for deletion; `check` runs after a failed fetch. */
export interface ConsumerKeeper {
  check(failure: unknown): Promise<void>;
  stop(): void;
}

/**
 * `want` is the consumer's settings as this daemon creates it at start
 * (streams/ensure-topology.ts consumerConfigFor); without it, a deletion is
 * only reported.
 */
export async function keepConsumer(
  jsm: JetStreamManager,
  consumer: Consumer,
  logger: Logger,
  want?: Partial<ConsumerConfig>,
  holdsNone: () => boolean = () => true,
): Promise<ConsumerKeeper> {
  const info = await consumer.info(true);
  const stream = info.stream_name;
  const name = info.config.durable_name ?? info.name;
  const log = logger.child({ stream, consumer: name });
  // Every message at or below the floor was acknowledged: never delivered again, whatever happens to the consumer.
  // A floor holds only for the consumer it was read from (one created again, by setup or another daemon, has a floor
  // of its own), and only if that consumer is younger than the stream: a stream created again numbers from 1.
  let floor = info.ack_floor.stream_seq;
  let consumerCreated = info.created;
  let notFoundSince = 0;
  let lastNotFound = 0;
  let logged = 0;
  const read = async () => {
    const now = await jsm.consumers.info(stream, name);
    floor = now.created === consumerCreated ? Math.max(floor, now.ack_floor.stream_seq) : now.ack_floor.stream_seq;
    consumerCreated = now.created;
    notFoundSince = 0;
    lastNotFound = 0;
  };
  const reading = setInterval(() => void read().catch(() => undefined), FLOOR_READ_MS);
  reading.unref();
  const rarely = (say: () => void) => {
    if (logged++ % LOG_EVERY === 0) say();
  };

  const check = async () => {
    try {
      await read();
      return;
    } catch (err) {
      if (codeOf(err) === JetStreamApiCodes.StreamNotFound) {
        rarely(() => log.error(`stream ${stream} is gone; run \`flants setup\` or restart the daemon to create it`));
        return;
      }
      if (codeOf(err) !== JetStreamApiCodes.ConsumerNotFound) return;
      const now = Date.now();
      if (now - lastNotFound > UNRELATED_AFTER_MS) notFoundSince = now;
      lastNotFound = now;
      if (now - notFoundSince < GONE_FOR_MS) return;
    }
    if (!want) {
      rarely(() => log.error(`consumer ${stream}/${name} is gone; run \`flants setup\` or restart the daemon to create it`));
      return;
    }
    // Acks of messages the old consumer delivered, sent after the new one exists, reach it under the same name: some
    // 2.10 releases then move its next message past all it has not delivered yet (lost). So it is created only once
    // this process holds none of them; their acks meanwhile go nowhere, and the new consumer delivers them again.
    if (!holdsNone()) return;
    try {
      const si = await jsm.streams.info(stream);
      if (Date.parse(consumerCreated) < Date.parse(si.created)) floor = 0;
      // A work queue holds only what no one acknowledged (and takes only consumers from its start); a stream that keeps
      // its messages is read on from just after the floor.
      const from = si.config.retention !== RetentionPolicy.Workqueue && floor > 0 ? floor + 1 : undefined;
      await jsm.consumers.add(stream, from ? { ...want, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : want);
      log.error({ fromSeq: from }, `consumer ${stream}/${name} was deleted while this actor ran; created it again${from ? `, from message ${from}` : ''}`);
    } catch (err) {
      // Created meanwhile by someone else (another daemon, `flants setup`): 2.10+ refuses a create whose settings
      // differ, 2.9 one that would change its start.
      if (isAlreadyExists(err) || (await jsm.consumers.info(stream, name).then(() => true, () => false))) return;
      rarely(() => log.error({ err }, `consumer ${stream}/${name} is gone and could not be created again; run \`flants setup\` as the admin user, or restart the daemon`));
    }
  };
  let running: Promise<void> | undefined;
  return {
    // A quick run of failed fetches shares one check.
    check: () => (running ??= check().finally(() => (running = undefined))),
    stop: () => clearInterval(reading),
  };
}
