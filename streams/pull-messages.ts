/**
 * Pulls messages with a loop of bounded, short-lived fetches instead of an
 * open-ended consume(). When it stops, it issues no new pull and the last one
 * ends within `expiresMs`, so no pull request is left on the server: messages
 * are never delivered to a stopped client's dead inbox, where they would sit
 * until ack_wait expired. Pulling only what there is room for is also the
 * back-pressure: nothing piles up client-side.
 */
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';

/** A stoppable stream of messages. */
export interface PulledMessages extends AsyncIterable<JsMsg> {
  /** Stops pulling; iteration ends once the last fetch is finished. */
  stop(): void;
}

/** Options for pulling. */
export interface PullOptions {
  /** Most messages asked for at once. */
  readonly maxMessages: number;
  /** How long one pull waits on the server for messages. */
  readonly expiresMs?: number;
  /** Room left downstream; at most this many are pulled. */
  readonly room?: () => number;
  /** Told after each fetch how many messages it brought of how many asked, and how many of them were `counted`. */
  readonly fetched?: (got: number, asked: number, counted: number) => void;
  /** Which messages `fetched` counts as `counted` (all unless given). A throw counts the message. */
  readonly counted?: (m: JsMsg) => boolean;
  /** Run after a failed fetch, before the retry (streams/recreate-consumer.ts). A throw is logged. */
  readonly onFailure?: (err: unknown) => Promise<void>;
  readonly logger?: Logger;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pulls from `consumer` until stopped. */
export function pullMessages(consumer: Consumer, o: PullOptions): PulledMessages {
  let stopping = false;
  const expires = o.expiresMs ?? 2_000;
  // Nothing a message carries may end a fetch early: the rest of its batch would wait out the ack wait, every time
  // (a review found one unparseable header name doing that to five classes).
  const isCounted = (m: JsMsg) => {
    try {
      return !o.counted || o.counted(m);
    } catch {
      return true;
    }
  };
  async function* loop(): AsyncGenerator<JsMsg> {
    let failures = 0;
    while (!stopping) {
      const want = Math.min(o.maxMessages, o.room ? o.room() : o.maxMessages);
      if (want <= 0) {
        await sleep(5);
        continue;
      }
      let batch;
      try {
        batch = await consumer.fetch({ max_messages: want, expires });
        let got = 0;
        let counted = 0;
        for await (const m of batch) {
          got++;
          if (isCounted(m)) counted++;
          yield m;
        }
        o.fetched?.(got, want, counted);
        failures = 0;
      } catch (err) {
        // Disconnected, server restarting, leader moving: wait and pull again.
        failures++;
        if (!stopping) o.logger?.warn({ err, failures }, 'pull failed; retrying');
        if (!stopping && o.onFailure) await o.onFailure(err).catch((e: unknown) => o.logger?.warn({ err: e }, 'could not check the consumer after a failed pull'));
        await sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }
  const it = loop();
  return {
    [Symbol.asyncIterator]: () => it,
    stop: () => {
      stopping = true;
    },
  };
}

/**
 * Interleaves two pulls into one stream; it ends when both have ended. Each
 * source hands over one message at a time and waits until it is taken, so
 * nothing piles up between the pulls and their consumer. (A `Promise.race`
 * over both sources would leak: every race adds a reaction to the idle
 * source's pending promise, and each reaction keeps a message alive. That
 * held 88,000 messages in a dispatcher before it ran out of heap.)
 */
export function mergePulls(a: PulledMessages, b: PulledMessages): PulledMessages {
  const handed: JsMsg[] = [];
  let wakeConsumer: (() => void) | undefined;
  const taken: Array<() => void> = [];
  let open = 2;
  const pump = async (source: PulledMessages) => {
    try {
      for await (const m of source) {
        await new Promise<void>((resolve) => {
          handed.push(m);
          taken.push(resolve);
          wakeConsumer?.();
        });
      }
    } finally {
      open--;
      wakeConsumer?.();
    }
  };
  async function* merged(): AsyncGenerator<JsMsg> {
    const pumps = [pump(a), pump(b)];
    for (;;) {
      const m = handed.shift();
      if (m) {
        taken.shift()?.();
        yield m;
        continue;
      }
      if (open === 0) break;
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
      wakeConsumer = undefined;
    }
    await Promise.all(pumps);
  }
  const it = merged();
  return {
    [Symbol.asyncIterator]: () => it,
    stop: () => {
      a.stop();
      b.stop();
    },
  };
}
