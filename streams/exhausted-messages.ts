/**
 * Turns JetStream's max-deliveries advisories into reported outcomes. A
 * message that reaches its consumer's redelivery cap (it crashed its process
 * every time, or the server ignored a term) is never delivered again and no
 * actor would ever speak for it: the server announces it on an advisory
 * subject, a stream keeps the advisory (so none is lost while no daemon runs),
 * and this listener hands the original message to its actor to report.
 */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { pullMessages } from './pull-messages.js';
import { keepConsumer } from './recreate-consumer.js';
import { consumerConfigFor, type TopologyOptions } from './ensure-topology.js';
import type { Topology } from './topology.js';

/** The advisory subject for messages of `stream` that reached `consumer`'s redelivery cap. */
export function maxDeliveriesSubject(stream: string, consumer: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`;
}

/** The durable consumer, on the advisory stream, that listens for `consumer`'s exhausted messages. */
export function exhaustedConsumerName(consumer: string): string {
  return `${consumer}_exhausted`;
}

/** A message that reached the redelivery cap, as stored. */
export interface ExhaustedMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly seq: number;
  /** When the message was stored (its run id is derived from it for triggers). */
  readonly time: Date;
  readonly deliveries: number;
}

/** Starts listening; `report` must publish the message's outcome (idempotently: an advisory may come twice). */
export async function startExhaustedListener(o: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  topology: Topology;
  /** The settings this daemon creates its consumers with (a deleted listener consumer is created again so). */
  topologyOptions?: TopologyOptions;
  stream: string;
  consumer: string;
  logger: Logger;
  report: (m: ExhaustedMessage) => Promise<void>;
}): Promise<{ stop(): Promise<void> }> {
  const name = exhaustedConsumerName(o.consumer);
  const consumer = await o.js.consumers.get(o.topology.streams.advisories, name);
  const kept = await keepConsumer(o.jsm, consumer, o.logger, o.topologyOptions && consumerConfigFor(o.topology, o.topologyOptions, name));
  const messages = pullMessages(consumer, { maxMessages: 16, logger: o.logger, onFailure: kept.check });
  // Work-queue messages are deleted once reported: nothing else would ever remove them.
  const workQueue = o.stream !== o.topology.streams.classes;
  const run = (async () => {
    for await (const adv of messages) {
      try {
        const a = adv.json<{ stream: string; stream_seq: number; deliveries: number }>();
        const stored = await o.jsm.streams.getMessage(a.stream, { seq: a.stream_seq }).catch(() => null);
        if (stored) {
          o.logger.warn({ stream: a.stream, seq: a.stream_seq, deliveries: a.deliveries }, 'message reached the redelivery cap; reporting it');
          await o.report({ subject: stored.subject, data: stored.data, seq: stored.seq, time: stored.time, deliveries: a.deliveries });
          if (workQueue) await o.jsm.streams.deleteMessage(a.stream, a.stream_seq, false).catch(() => false);
        }
        adv.ack();
      } catch (err) {
        o.logger.error({ err }, 'could not report an exhausted message; will retry');
        adv.nak(5_000);
      }
    }
  })();
  return {
    stop: async () => {
      messages.stop();
      kept.stop();
      await run;
    },
  };
}
