/**
 * Pulls from a durable consumer and runs a handler per message with bounded
 * concurrency. `stop()` stops pulling, finishes the messages already delivered
 * to this client, and waits for in-flight handlers: nothing is acked before it
 * is done.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { pullMessages } from './pull-messages.js';

/** A running actor, as every actor factory returns it. */
export interface ActorHandle {
  readonly name: string;
  /** Stops pulling, finishes in-flight work. Safe to call twice. */
  stop(): Promise<void>;
  /** Resolves when the actor has fully stopped. */
  readonly closed: Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options for one consume loop. */
export interface ConsumeLoopOptions {
  readonly name: string;
  readonly js: JetStreamClient;
  readonly stream: string;
  readonly consumer: string;
  readonly logger: Logger;
  /** Handlers running at once. */
  readonly concurrency: number;
  /** Messages buffered client-side ahead of the handlers. */
  readonly maxMessages?: number;
  /** Must end the message (ack, nak or term) itself; a throw is logged and the message nak'd. */
  readonly handle: (msg: JsMsg) => Promise<void>;
}

/** Waits until fewer than `limit` of `inFlight` run. */
async function belowLimit(inFlight: Set<Promise<void>>, limit: number): Promise<void> {
  while (inFlight.size >= limit) await Promise.race(inFlight);
}

/** Starts the loop; returns its handle. */
export async function startConsumeLoop(o: ConsumeLoopOptions): Promise<ActorHandle> {
  const consumer = await o.js.consumers.get(o.stream, o.consumer);
  const inFlight = new Set<Promise<void>>();
  const messages = pullMessages(consumer, {
    maxMessages: o.maxMessages ?? Math.max(o.concurrency * 2, 16),
    room: () => o.concurrency * 2 - inFlight.size,
    logger: o.logger,
  });

  const run = (async () => {
    for await (const msg of messages) {
      await belowLimit(inFlight, o.concurrency);
      const p: Promise<void> = o
        .handle(msg)
        .catch((err) => {
          o.logger.error({ err, subject: msg.subject, seq: msg.seq }, 'handler failed; message will be redelivered');
          msg.nak(1_000);
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await Promise.all(inFlight);
  })();

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      messages.stop();
      await run;
    })();
    return stopped;
  };
  return { name: o.name, stop, closed: run, [Symbol.asyncDispose]: stop };
}
