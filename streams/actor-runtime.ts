/**
 * The one actor runtime: pull (bounded, short fetches), optionally batch
 * (RxJS), handle, settle. Every actor runs on it and keeps only its own logic:
 * a handler that turns messages into outcomes, and a reporter that publishes
 * the outcomes others must hear about. How a message ends is decided by
 * streams/outcome-policy.ts and carried out here, and nowhere else.
 *
 * What the runtime guarantees, whatever the handler does:
 * - every message it holds gets `working()` every third of the ack wait, so a
 *   slow crawl or a long wave is never redelivered under a live worker;
 * - a handler that throws, or a reporter that cannot publish, costs no
 *   attempt (free deliveries are remembered per message);
 * - a failure is reported before its message is terminated, and terminated
 *   the way this server honours (plain `term()` before nats-server 2.10);
 * - throttled messages go round in process, up to the policy's ceiling, and
 *   `stop()` hands them back at once, so shutdown is bounded by in-flight work;
 * - a message that reaches the server's redelivery cap anyway (crash loops)
 *   is reported through the max-deliveries advisory (exhausted-messages.ts).
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { bufferTime, filter, map, merge, mergeMap, Observable, Subject, type OperatorFunction } from 'rxjs';
import { deadLetterRecord } from './dead-letter.js';
import { decide, honoursTermReason, type Decision, type Outcome, type PolicySettings } from './outcome-policy.js';
import { mergePulls, pullMessages } from './pull-messages.js';
import { keepConsumer } from './recreate-consumer.js';
import { consumerConfigFor, type TopologyOptions } from './ensure-topology.js';
import { startExhaustedListener, type ExhaustedMessage } from './exhausted-messages.js';
import type { Topology } from './topology.js';

/** A running actor, as every actor factory returns it. */
export interface ActorHandle {
  readonly name: string;
  /** Stops pulling, finishes in-flight work. Safe to call twice. */
  stop(): Promise<void>;
  /** Resolves when the actor has fully stopped. */
  readonly closed: Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** One message as a handler sees it. */
export interface Delivery {
  readonly msg: JsMsg;
  /** Real attempts, this one included: deliveries minus free ones (crashes, not-due naks). */
  readonly attempt: number;
  /** Throttled rounds this message has already gone. */
  readonly throttleRounds: number;
}

/** A handler's verdict on one delivery, with whatever the actor wants to report about it. */
export interface Handled<D> {
  readonly outcome: Outcome;
  readonly detail?: D;
}

/** A verdict together with the policy's decision, as the reporter sees it. */
export interface Decided<D> extends Handled<D> {
  readonly delivery: Delivery;
  readonly decision: Decision;
}

/** Groups items into batches of up to `size`, flushing a partial batch after `maxWaitMs`. */
export function intoBatches<T>(size: number, maxWaitMs: number): OperatorFunction<T, T[]> {
  return (source: Observable<T>) =>
    source.pipe(
      bufferTime(maxWaitMs, null, size),
      filter((batch) => batch.length > 0),
    );
}

/** What an actor hands the runtime. */
export interface ActorOptions<D> {
  readonly name: string;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly topology: Topology;
  readonly stream: string;
  readonly consumer: string;
  /** The settings this daemon creates its consumers with: one deleted while the actor runs is created again so. */
  readonly topologyOptions?: TopologyOptions;
  /**
   * A lower-priority consumer on the same stream (the bulk lane): pulled only
   * while the first comes back with less than it asked for, so that its work
   * never delays the first's.
   */
  readonly lowPriorityConsumer?: string;
  /**
   * The actor's own admission to the low-priority consumer, on top of
   * `maxHeld`: how many of its messages may be pulled now (asked only while
   * the first consumer is idle), and what each pull then brought. What is
   * not admitted stays in the stream, in order, costing nothing.
   */
  readonly lowPriorityAdmission?: { room(): number; fetched(got: number, asked: number): void };
  /**
   * Whether a message of the first consumer keeps the low-priority one
   * waiting (all do unless given). A recording's re-crawl only watches: a
   * scan's recordings that never end would otherwise keep the first consumer
   * busy for good. A fetch of such messages alone counts as idle.
   */
  readonly keepsLowWaiting?: (msg: JsMsg) => boolean;
  readonly logger: Logger;
  readonly policy: PolicySettings;
  /** The server's version (`nc.info.version`): decides how messages are terminated. */
  readonly serverVersion?: string;
  /** Handler calls (or batches) running at once. */
  readonly concurrency: number;
  /** Messages pulled and not yet settled, at most. */
  readonly maxHeld: number;
  /** When set, the handler gets batches of up to `size` messages. */
  readonly batch?: { readonly size: number; readonly maxWaitMs: number };
  /** Turns deliveries into one verdict each, in order. A throw makes every one of them `crashed`. */
  readonly handle: (deliveries: readonly Delivery[]) => Promise<ReadonlyArray<Handled<D>>>;
  /**
   * Publishes what others must hear before the messages end: at least every
   * `fail` decision. A throw leaves every message of the batch to come back, free.
   */
  readonly report?: (decided: ReadonlyArray<Decided<D>>) => Promise<void>;
  /** Reports a message that reached the redelivery cap without a final outcome. */
  readonly exhausted?: (m: ExhaustedMessage) => Promise<void>;
}

/** Live counts, for tests and status. */
export interface RuntimeStats {
  held: number;
  acked: number;
  failed: number;
  retried: number;
  throttleRounds: number;
  crashed: number;
  deadLettered: number;
}

/** A running actor with its runtime's counts. */
export interface RuntimeHandle extends ActorHandle {
  readonly stats: RuntimeStats;
}

/** Per-message bookkeeping that JetStream does not keep for us. */
interface Held {
  free: number;
  throttleRounds: number;
  throttledSince: number;
  /** Waiting out a throttle round in process. */
  timer?: NodeJS.Timeout;
}

/** Remembers free deliveries of messages that went back to the server, for their next delivery. */
class FreeDeliveries {
  private readonly counts = new Map<number, number>();
  constructor(private readonly limit = 100_000) {}
  get(seq: number): number {
    return this.counts.get(seq) ?? 0;
  }
  set(seq: number, n: number): void {
    this.counts.delete(seq);
    this.counts.set(seq, n);
    // Oldest first: a bounded memory, never a leak on a long-running daemon.
    if (this.counts.size > this.limit) this.counts.delete(this.counts.keys().next().value as number);
  }
  forget(seq: number): void {
    this.counts.delete(seq);
  }
}

/**
 * Sends an ack, nak or term. On a closed or broken connection it throws: the
 * message then comes back after the ack wait, which is the right end for it,
 * and the actor must not die of it.
 */
function quietly(settle: () => void): void {
  try {
    settle();
  } catch {
    // redelivered after the ack wait
  }
}

/** Starts an actor on its durable consumer. */
export async function startActor<D>(o: ActorOptions<D>): Promise<RuntimeHandle> {
  const log = o.logger;
  const consumer = await o.js.consumers.get(o.stream, o.consumer);
  const info = await consumer.info(true);
  const low = o.lowPriorityConsumer ? await o.js.consumers.get(o.stream, o.lowPriorityConsumer) : undefined;
  const want = (name: string) => (o.topologyOptions ? consumerConfigFor(o.topology, o.topologyOptions, name) : undefined);
  // A consumer is created again only once this process holds none of the messages its last incarnation delivered.
  const held = new Map<JsMsg, Held>();
  const holdsNoneOf = (name: string) => () => ![...held.keys()].some((m) => m.info.consumer === name);
  const keepers = await Promise.allSettled([
    keepConsumer(o.jsm, consumer, log, want(o.consumer), holdsNoneOf(o.consumer)),
    low && o.lowPriorityConsumer ? keepConsumer(o.jsm, low, log, want(o.lowPriorityConsumer), holdsNoneOf(o.lowPriorityConsumer)) : undefined,
  ]);
  const [firstKept, lowKept] = keepers.map((k) => (k.status === 'fulfilled' ? k.value : undefined));
  const keeperFailed = keepers.find((k) => k.status === 'rejected');
  if (!firstKept || keeperFailed) {
    // A failed start leaves no timer reading consumers on a connection about to close.
    firstKept?.stop();
    lowKept?.stop();
    throw (keeperFailed as PromiseRejectedResult).reason;
  }
  const ackWaitMs = Math.max(1_000, (info.config.ack_wait ?? 30e9) / 1e6);
  const termReason = honoursTermReason(o.serverVersion);
  const stats: RuntimeStats = { held: 0, acked: 0, failed: 0, retried: 0, throttleRounds: 0, crashed: 0, deadLettered: 0 };
  const free = new FreeDeliveries();
  const retry$ = new Subject<JsMsg>();
  let pulling = true;
  let stopping = false;

  const maxMessages = Math.max(16, Math.min(o.maxHeld, (o.batch?.size ?? o.concurrency) * 2));
  // The first consumer's last fetch came back short, or brought nothing that keeps the low-priority lane waiting:
  // it has nothing waiting, the low-priority lane may pull.
  let firstIdle = true;
  const first = pullMessages(consumer, {
    maxMessages,
    room: () => o.maxHeld - held.size,
    logger: log,
    counted: o.keepsLowWaiting,
    onFailure: firstKept.check,
    fetched: (got, asked, counted) => {
      firstIdle = got < asked || counted === 0;
    },
  });
  const lowRoom = () => {
    const free = firstIdle ? o.maxHeld - held.size : 0;
    if (free <= 0 || !o.lowPriorityAdmission) return free;
    return Math.min(free, o.lowPriorityAdmission.room());
  };
  const second = low ? pullMessages(low, { maxMessages, room: lowRoom, fetched: o.lowPriorityAdmission?.fetched, onFailure: lowKept?.check, logger: log }) : undefined;
  const messages = second ? mergePulls(first, second) : first;

  // Held messages (queued, being handled, waiting out a throttle round) must not time out.
  const heartbeat = setInterval(() => held.forEach((_, m) => quietly(() => m.working())), Math.max(300, ackWaitMs / 3));

  const delivery = (msg: JsMsg): Delivery => {
    const h = held.get(msg) as Held;
    return { msg, attempt: Math.max(1, msg.info.deliveryCount - h.free), throttleRounds: h.throttleRounds };
  };

  const maybeComplete = () => {
    if (!pulling && held.size === 0) retry$.complete();
  };
  const release = (msg: JsMsg) => {
    held.delete(msg);
    stats.held = held.size;
    maybeComplete();
  };

  const terminate = (msg: JsMsg, reason: string) => {
    free.forget(msg.seq);
    quietly(() => (termReason ? msg.term(reason.slice(0, 200)) : msg.term()));
  };

  /** Carries out one decision; the only place a message ends. */
  const apply = async (msg: JsMsg, d: Decision) => {
    const h = held.get(msg);
    if (!h) return;
    switch (d.end) {
      case 'ack':
        free.forget(msg.seq);
        quietly(() => msg.ack());
        stats.acked++;
        break;
      case 'nak':
        if (d.free) free.set(msg.seq, h.free + 1);
        else stats.retried++;
        quietly(() => msg.nak(d.delayMs));
        break;
      case 'fail':
        stats.failed++;
        terminate(msg, d.reason);
        break;
      case 'dead-letter':
        stats.deadLettered++;
        log.warn({ subject: msg.subject, seq: msg.seq, reason: d.reason }, 'poison message dead-lettered');
        await o.js.publish(o.topology.subjects.deadletter, JSON.stringify(deadLetterRecord(o.name, msg, d.reason)), {
          msgID: `dl:${msg.info.stream}:${msg.seq}`,
        });
        terminate(msg, d.reason);
        break;
      case 'throttle-round':
        stats.throttleRounds++;
        if (h.throttleRounds === 0) h.throttledSince = Date.now();
        h.throttleRounds++;
        if (stopping) {
          // Shutting down: the round is not ours to wait out; the server redelivers it, free.
          free.set(msg.seq, h.free + 1);
          quietly(() => msg.nak(d.delayMs));
          break;
        }
        h.timer = setTimeout(() => {
          h.timer = undefined;
          retry$.next(msg);
        }, d.delayMs * (0.5 + Math.random()));
        return; // still held
    }
    release(msg);
  };

  const run = async (msgs: JsMsg[]) => {
    const deliveries = msgs.map(delivery);
    let handled: ReadonlyArray<Handled<D>>;
    try {
      handled = await o.handle(deliveries);
      if (handled.length !== deliveries.length) throw new Error(`${o.name} handler returned ${handled.length} verdicts for ${deliveries.length} messages`);
    } catch (err) {
      stats.crashed++;
      log.error({ err, messages: msgs.length }, 'handler failed; its messages come back without using up an attempt');
      handled = deliveries.map(() => ({ outcome: { kind: 'crashed', reason: String(err) } }));
    }
    const now = Date.now();
    const decided: Array<Decided<D>> = handled.map((h, i) => {
      const d = deliveries[i] as Delivery;
      const state = held.get(d.msg) as Held;
      return {
        ...h,
        delivery: d,
        decision: decide(h.outcome, { attempt: d.attempt, throttleRounds: state.throttleRounds, throttledSince: state.throttledSince, freeDeliveries: state.free, now }, o.policy),
      };
    });
    try {
      if (o.report) await o.report(decided);
    } catch (err) {
      // Nothing was settled: every message comes back and its verdict is reported again.
      stats.crashed++;
      log.error({ err, messages: msgs.length }, 'could not report outcomes; messages come back without using up an attempt');
      await settleAll(decided.map((d) => [d.delivery.msg, decide({ kind: 'crashed', reason: String(err) }, { attempt: d.delivery.attempt, throttleRounds: 0, throttledSince: 0, freeDeliveries: held.get(d.delivery.msg)?.free ?? 0, now }, o.policy)] as const));
      return;
    }
    await settleAll(decided.map((d) => [d.delivery.msg, d.decision] as const));
  };

  /**
   * Applies every decision before awaiting any: the acks of a batch then leave
   * in one socket write (the client flushes once per tick). Awaiting each in
   * turn had sent one write per message, 13 % of a dispatcher's CPU. Only a
   * dead letter's publish is awaited, and those all at once.
   */
  const settleAll = async (decisions: ReadonlyArray<readonly [JsMsg, Decision]>) => {
    const settling = decisions.map(([msg, d]) =>
      apply(msg, d).catch((err: unknown) => {
        // The dead-letter record could not be published: the message comes back, free.
        log.error({ err, seq: msg.seq }, 'could not settle message; it comes back');
        const h = held.get(msg);
        if (h) free.set(msg.seq, h.free + 1);
        quietly(() => msg.nak(1_000));
        release(msg);
      }),
    );
    await Promise.all(settling);
  };

  const pulled$ = new Observable<JsMsg>((subscriber) => {
    void (async () => {
      // After stop(), the last fetch still yields what it received; all of it is finished.
      for await (const msg of messages) {
        held.set(msg, { free: free.get(msg.seq), throttleRounds: 0, throttledSince: 0 });
        stats.held = held.size;
        subscriber.next(msg);
      }
      pulling = false;
      subscriber.complete();
      maybeComplete();
    })().catch((err) => subscriber.error(err));
  });

  const batched = o.batch
    ? intoBatches<JsMsg>(o.batch.size, o.batch.maxWaitMs)
    : map((m: JsMsg) => [m]);
  const closed = new Promise<void>((resolve, reject) => {
    merge(pulled$, retry$)
      .pipe(batched, mergeMap((msgs) => run(msgs), o.concurrency))
      .subscribe({ complete: resolve, error: reject });
  }).finally(() => {
    clearInterval(heartbeat);
    firstKept.stop();
    lowKept?.stop();
  });

  // Pulling has begun: a listener that fails to start must not leave it running with no handle to stop it (a failed
  // daemon start is retried on a new connection; a review found the old loop still pulling on the closed one).
  const listeners = o.exhausted
    ? await Promise.allSettled(
        [o.consumer, ...(o.lowPriorityConsumer ? [o.lowPriorityConsumer] : [])].map((c) =>
          startExhaustedListener({ js: o.js, jsm: o.jsm, topology: o.topology, topologyOptions: o.topologyOptions, stream: o.stream, consumer: c, logger: log, report: o.exhausted as NonNullable<typeof o.exhausted> }),
        ),
      )
    : [];
  const exhausted = listeners.flatMap((l) => (l.status === 'fulfilled' ? [l.value] : []));
  const refused = listeners.find((l) => l.status === 'rejected');

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      stopping = true;
      messages.stop();
      // Throttle rounds waiting in process go back to the server now, free.
      for (const [msg, h] of held) {
        if (!h.timer) continue;
        clearTimeout(h.timer);
        free.set(msg.seq, h.free + 1);
        quietly(() => msg.nak(1_000));
        release(msg);
      }
      await Promise.all([closed, ...exhausted.map((e) => e.stop())]);
    })();
    return stopped;
  };
  if (refused) {
    // Stopped as any actor is (what it holds is finished, kept from timing out meanwhile), for at most an ack wait:
    // a handler still running then comes back to whoever starts next.
    await Promise.race([stop().catch(() => undefined), new Promise((r) => setTimeout(r, ackWaitMs).unref())]);
    throw refused.reason;
  }
  return { name: o.name, stats, stop, closed, [Symbol.asyncDispose]: stop };
}
