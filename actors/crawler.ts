/**
 * Crawler: reads a class's playlists and emits one transfer job per distinct
 * file. It tells the aggregator how many files the class has before the first
 * job, and dedupes jobs by Nats-Msg-Id so that a redelivered crawl never
 * enqueues a file twice.
 */
import { createHash } from 'node:crypto';
import { JetStreamApiError, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { FlantsConfig } from '../config/load-config.js';
import { crawlClass } from '../hls/crawl-class.js';
import { fileGroupsOf } from '../hls/file-groups.js';
import { detailPieces, fitSamples } from './detail-pieces.js';
import { describeError, isPermanent } from '../storage/errors.js';
import type { SourceReader } from '../storage/source-reader.js';
import type { SourceRoot } from '../storage/source-root.js';
import { AckedPublisher } from '../streams/acked-publisher.js';
import { PublishWindow } from '../streams/publish-window.js';
import { failRun, reportFailedRuns } from './class-failures.js';
import { LaneEvents } from '../streams/lane-events.js';
import { startActor, type Delivery, type Handled, type RuntimeHandle } from '../streams/actor-runtime.js';
import { publishDurably } from '../streams/durable-publish.js';
import { policyOf } from '../streams/policy-settings.js';
import { topologyOptions } from '../streams/ensure-topology.js';
import {
  crawlJobSchema,
  parseMessage,
  PoisonMessageError,
  runOfPoisonCrawl,
  safeJson,
  WATCH_HEADER,
  type ClassCrawled,
  type ClassDetails,
  type CrawlJob,
  type TransferJob,
} from '../streams/messages.js';
import type { Topology } from '../streams/topology.js';

/** What the crawler needs. */
export interface CrawlerDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly serverVersion?: string;
  /** The connection under `js`: the bulk enqueue of transfer jobs publishes on it directly (streams/acked-publisher.ts). */
  readonly nc: NatsConnection;
  readonly topology: Topology;
  readonly config: FlantsConfig;
  readonly logger: Logger;
  readonly reader: SourceReader;
  readonly root: SourceRoot;
}

/** Room a turn holds in its lane's backlog while it reads its playlists. */
interface Hold {
  readonly lane: CrawlJob['lane'];
  held: number;
}

/** JetStream's error code for a consumer that does not exist. */
const CONSUMER_NOT_FOUND = 10014;

/** How long an admitted class may take to reserve its room before the next is admitted anyway. */
const ADMISSION_TIMEOUT_MS = 10_000;

/** How many of the crawler's 4 concurrent crawls watching recordings may take before a scan's admission waits for them. */
const WATCH_SLOTS = 2;

/** A recording's re-crawl (marked when published). A header no client can parse is not one: it is crawled as any other. */
function isWatch(m: JsMsg): boolean {
  try {
    return m.headers?.get(WATCH_HEADER) === '1';
  } catch {
    return false;
  }
}

/** Publishes acknowledged by JetStream may be outstanding at once; bounds memory on huge classes. */
const PUBLISH_WINDOW = 128;

/** Refused or skipped URIs per `class details` message at most (fewer when long: actors/detail-pieces.ts), and how many ride in `class crawled` as a sample. */
const DETAILS_PER_MESSAGE = 200;
const SAMPLE = 20;

export { destKeyFor } from '../hls/dest-key.js';

/** What the aggregator should make of a class whose playlists may still be growing. */
export function liveState(live: boolean, startedAt: string, cfg: FlantsConfig): ClassCrawled['live'] {
  if (!live) return 'ended';
  if (cfg.live.policy === 'incomplete') return 'incomplete';
  return Date.now() - Date.parse(startedAt) > cfg.live.maxWaitMs ? 'incomplete' : 'recrawl';
}

/** Starts the crawler on its durable consumer. */
export async function startCrawler(deps: CrawlerDeps): Promise<RuntimeHandle> {
  const logger = deps.logger.child({ actor: 'crawler' });
  const { subjects } = deps.topology;
  const cfg = deps.config;
  const laneEvents = new LaneEvents(deps.topology, logger);

  /** Publishes every job, at most PUBLISH_WINDOW awaiting their PubAck; a refused one fails the whole enqueue. */
  const publishJobs = async (jobs: TransferJob[], subject: string) => {
    const window = new PublishWindow(PUBLISH_WINDOW);
    for (const job of jobs) {
      // Awaited only when the window is full: publishes queued in one tick leave in one socket write.
      const full = window.add(publisher.publish(subject, JSON.stringify(job), `t:${job.runId}:${job.i}`));
      if (full) await full;
    }
    await window.drain();
  };

  type Lane = CrawlJob['lane'];
  /** A lane's transfer subject, and the dispatcher consumer whose backlog bounds it. */
  const laneOf = (lane: Lane) => {
    const { consumers } = deps.topology;
    return lane === 'bulk' ? { transfer: subjects.transferBulk, dispatcher: consumers.dispatcherBulk } : { transfer: subjects.transfer, dispatcher: consumers.dispatcher };
  };

  // Each lane's transfer backlog, read at most twice a second: it bounds what that lane's crawls may add.
  // `reserved` is room held by first turns still reading their playlists: kept apart from the reading, so
  // that a newer reading never drops it (a review found every slow crawl's room taken by the next one).
  const backlogs = { live: { jobs: 0, at: 0, reserved: 0 }, bulk: { jobs: 0, at: 0, reserved: 0 } };
  const laneBacklog = async (lane: Lane): Promise<{ jobs: number; reserved: number }> => {
    const b = backlogs[lane];
    if (Date.now() - b.at > 500) {
      const { dispatcher, transfer } = laneOf(lane);
      const ci = await consumerBacklog(deps.topology.streams.work, dispatcher, transfer);
      b.jobs = ci.num_pending + ci.num_ack_pending;
      b.at = Date.now();
    }
    return b;
  };
  /** A consumer's counts; before anyone made it, what waits for it in the stream (on `subject`, a wildcard summed). */
  const consumerBacklog = (stream: string, consumer: string, subject: string) =>
    deps.jsm.consumers.info(stream, consumer).catch(async (err: unknown) => {
      if (!(err instanceof JetStreamApiError && err.code === CONSUMER_NOT_FOUND)) throw err;
      const si = await deps.jsm.streams.info(stream, { subjects_filter: subject });
      return { num_pending: Object.values(si.state.subjects ?? {}).reduce((a, n) => a + n, 0), num_ack_pending: 0 };
    });
  // How soon a turn that found no room looks again: a live class soonest, a bulk one within a second.
  const noRoomDelayMs = (job: CrawlJob) => (job.lane === 'live' ? 250 : 1_000);

  /**
   * A scan's class admitted but not started (another turn took the room
   * first) must not be overtaken by the next admissions: admission stays
   * closed until its next look (a review found it starved by newer classes
   * that each saw the room first).
   */
  let admissionClosedUntil = 0;
  const deferUnstarted = async (job: CrawlJob) => {
    const delay = noRoomDelayMs(job);
    if (job.lane === 'bulk') admissionClosedUntil = Math.max(admissionClosedUntil, Date.now() + delay + 500);
    await deferTurn(job, 0, delay);
  };

  /**
   * Queues a crawl's next turn, from file `from`, on the crawl subject of
   * classes under way: behind the live triggers and the other classes under
   * way, never behind a scan's classes still waiting to start. A redelivered
   * turn publishes the same message (deduplicated).
   */
  const deferTurn = async (job: CrawlJob, from: number, delayMs: number) => {
    const next: CrawlJob = { ...job, enqueueFrom: from, turn: (job.turn ?? 0) + 1, notBefore: new Date(Date.now() + delayMs).toISOString() };
    await deps.js.publish(subjects.crawl, JSON.stringify(next), { msgID: `crawl:${job.runId}:g${job.generation}:t${next.turn}` });
  };

  /**
   * The time this process spent looking at recordings still live over the
   * last FLANTS_LIVE_RECRAWL_INTERVAL. While it is under WATCH_SLOTS of the
   * crawler's concurrent crawls (WATCH_SLOTS × the interval), re-crawls do not
   * hold a scan's admission back; past it, no more of the scan starts until
   * some recordings end. Measured per process, so that each crawler added
   * watches its share: JetStream spreads the re-crawls over them. A review
   * found 300 unended recordings admitted at once, their re-crawls queued
   * behind each other, and a live trigger done after 12 s.
   */
  const looks: Array<{ at: number; ms: number }> = [];
  let looksFrom = 0;
  let lookingMs = 0;
  const lookedAtLive = (ms: number) => {
    looks.push({ at: Date.now(), ms });
    lookingMs += ms;
  };
  const watchingIsFull = (): boolean => {
    const horizon = Date.now() - cfg.live.recrawlIntervalMs;
    while (looksFrom < looks.length && (looks[looksFrom] as { at: number }).at < horizon) lookingMs -= (looks[looksFrom++] as { ms: number }).ms;
    if (looksFrom > 1_024 && looksFrom * 2 > looks.length) {
      looks.splice(0, looksFrom);
      looksFrom = 0;
    }
    return lookingMs >= WATCH_SLOTS * cfg.live.recrawlIntervalMs;
  };

  /**
   * Admission of a scan's next class (the bulk crawl consumer): one at a
   * time, and only while the bulk lane has room for a whole slice. A class
   * not admitted stays in the stream, in scan order, and costs nothing while
   * it waits (each one looked for room every 3 s before: about 700 messages a
   * second with 2,000 classes waiting). `admittingSince` is set from the
   * pull until that class's turn has reserved its room, so the next
   * admission sees it; a pull that brought nothing, or one that never got
   * handled (ADMISSION_TIMEOUT_MS), lets the next go.
   *
   * The aggregator's bulk backlog gates admission too: a scan of small
   * classes finishes classes faster than one aggregator reports them, and
   * every run it has not reported is held in its memory.
   */
  let admittingSince = 0;
  let watchPausedSince = 0;
  let refreshing: Promise<unknown> | undefined;
  const aggregator = { events: 0, at: 0, pausedSince: 0 };
  const readAggregatorBacklog = async () => {
    // The bulk lane's events not yet delivered to any aggregator: what they hold in hand (up to 4,000 each) is work under way.
    const ci = await consumerBacklog(deps.topology.streams.events, deps.topology.consumers.aggregatorBulk, subjects.aggregateBulk);
    aggregator.events = ci.num_pending;
    aggregator.at = Date.now();
  };
  const admission = {
    room: (): number => {
      const b = backlogs.bulk;
      if ((Date.now() - b.at > 500 || Date.now() - aggregator.at > 500) && !refreshing) {
        refreshing = Promise.all([laneBacklog('bulk'), readAggregatorBacklog()])
          .catch((err: unknown) => logger.warn({ err }, 'could not read the bulk lane or aggregator backlog; admitting no class until it can'))
          .finally(() => (refreshing = undefined));
      }
      const now = Date.now();
      if (now - admittingSince < ADMISSION_TIMEOUT_MS || now < admissionClosedUntil || now - b.at > 5_000 || now - aggregator.at > 5_000) return 0;
      if (watchingIsFull()) {
        if (watchPausedSince === 0) {
          watchPausedSince = now;
          logger.warn({ lookingMs: Math.round(lookingMs), intervalMs: cfg.live.recrawlIntervalMs }, 'watching recordings still live takes half the crawler: no more of the scan is started until some end');
        }
        return 0;
      }
      if (watchPausedSince !== 0) {
        logger.info({ pausedMs: now - watchPausedSince }, 'watching recordings takes less of the crawler again: the scan goes on');
        watchPausedSince = 0;
      }
      const { maxQueuedJobs: max, classSlice } = cfg.flow;
      if (b.jobs + b.reserved > max - Math.min(classSlice, max)) return 0;
      if (aggregator.events >= cfg.flow.maxAggregatorBacklog) {
        if (aggregator.pausedSince === 0) {
          aggregator.pausedSince = now;
          logger.warn({ events: aggregator.events, limit: cfg.flow.maxAggregatorBacklog }, 'the aggregator is behind: no more of the scan is started until it catches up');
        }
        return 0;
      }
      if (aggregator.pausedSince !== 0) {
        logger.info({ pausedMs: now - aggregator.pausedSince }, 'the aggregator caught up: the scan goes on');
        aggregator.pausedSince = 0;
      }
      admittingSince = now;
      aggregator.events++; // its count, at least, until the next reading: admissions between readings stay bounded
      return 1;
    },
    fetched: (got: number) => {
      if (got === 0) admittingSince = 0;
    },
  };

  /**
   * The least room a bulk class under way reads its playlists again for: a
   * tenth of a slice, or all it has left. Taking any room, a class under way
   * in a lane kept nearly full read all its playlists for a handful of files,
   * turn after turn (a review).
   */
  const minTurn = (job: CrawlJob) => {
    const left = job.bulkTotal !== undefined ? job.bulkTotal - job.enqueueFrom : Infinity;
    return Math.max(1, Math.min(Math.ceil(cfg.flow.classSlice / 10), left));
  };

  /**
   * Whether a turn may read the playlists at all. A bulk class not started
   * yet waits for room for a whole slice, and reserves it: classes are
   * finished rather than all started (the aggregator holds every started run),
   * and no crawl is spent on a turn that would enqueue a handful of files.
   * Returns the room held, or undefined when there is none.
   */
  const reserve = async (job: CrawlJob): Promise<Hold | undefined> => {
    const { maxQueuedJobs: max, classSlice } = cfg.flow;
    const b = await laneBacklog(job.lane);
    const needed = job.lane === 'bulk' ? Math.min(job.enqueueFrom === 0 ? classSlice : minTurn(job), max) : 1;
    if (b.jobs + b.reserved > max - needed) return undefined;
    const held = needed > 1 ? needed : 0;
    b.reserved += held;
    return { lane: job.lane, held };
  };
  /** Gives back what a turn still holds (once: a hold is spent by turnSize or released when the turn ends). */
  const release = (hold: Hold) => {
    backlogs[hold.lane].reserved -= hold.held;
    hold.held = 0;
  };

  /**
   * How many more of a class's files its lane takes in this turn at most: a
   * slice. In the live lane, what is left of its first slice (all of it: a
   * live turn takes its whole first slice, turnSize; a live turn that starts
   * further on comes from an earlier flants, which took only the room there
   * was). Taking part and sending the rest to the bulk lane put 4 of a 6-file
   * recording behind a scan (a review).
   */
  const sliceLeft = (job: CrawlJob) => (job.lane === 'live' ? Math.max(0, cfg.flow.classSlice - job.enqueueFrom) : cfg.flow.classSlice);

  /**
   * How many of a class's files this turn may enqueue: what fits under its
   * lane's FLANTS_MAX_QUEUED_JOBS, at most FLANTS_CLASS_SLICE. The rest waits
   * for a later turn, behind the other classes (round robin), so that the
   * backlog, and nats-server's memory and disk with it, stay bounded.
   */
  const turnSize = async (job: CrawlJob, remaining: number, hold: Hold): Promise<number> => {
    const b = await laneBacklog(job.lane);
    release(hold);
    const room = cfg.flow.maxQueuedJobs - b.jobs - b.reserved;
    // A live class takes its whole first slice once there is any room, going over the bound by less than a slice (as
    // each of the FLANTS_CRAWL_CONCURRENCY crawls may: the bound says so). Taking only the room there was split a
    // small recording over several turns, each reading its playlists again, and failed it if they changed between
    // (a review: an origin naming segments per session); waiting for room for the whole slice starved it behind
    // smaller recordings taking each bit of room as it freed (an earlier review).
    const n = job.lane === 'live' ? (room > 0 ? Math.min(sliceLeft(job), remaining) : 0) : Math.max(0, Math.min(room, sliceLeft(job), remaining));
    b.jobs += n;
    return n;
  };

  const handleOne = async ({ msg, attempt }: Delivery): Promise<Handled<CrawlJob>> => {
    const admitted = msg.subject === subjects.crawlBulk;
    const watching = isWatch(msg);
    let hold: Hold | undefined;
    let job: CrawlJob;
    try {
      try {
        job = parseMessage(crawlJobSchema, msg.data, 'crawl job');
      } catch (err) {
        // Dead-lettered; the run it names, if any, is reported failed (reportFailedRuns).
        if (err instanceof PoisonMessageError) return { outcome: { kind: 'poison', reason: err.message }, detail: runOfPoisonCrawl(msg.data) };
        throw err;
      }
      const wait = job.notBefore ? Date.parse(job.notBefore) - Date.now() : 0;
      if (wait > 0) return { outcome: { kind: 'later', delayMs: wait } }; // a live re-crawl that is not due yet
      // A recording's re-crawl reads its playlists to see whether it has ended, and enqueues nothing while it has not:
      // it needs no room to look (in a lane kept full by a scan it would otherwise come back as a class waiting for
      // room, every second). One that finds it ended, or given up on, then needs room as a class starting does (crawlTurn).
      hold = watching ? { lane: job.lane, held: 0 } : await reserve(job);
    } finally {
      if (admitted) admittingSince = 0; // its room is reserved (or it holds none): the next class may be admitted
    }
    if (!hold) {
      // No room: not even worth reading the playlists. Its turn comes round again, behind the others under way.
      if (job.enqueueFrom === 0) await deferUnstarted(job);
      else await deferTurn(job, job.enqueueFrom, noRoomDelayMs(job));
      return { outcome: { kind: 'ok' }, detail: job };
    }
    const log = logger.child({ classId: job.classId, runId: job.runId, generation: job.generation });
    try {
      return await crawlTurn(job, attempt, hold, watching, storedAt(msg), log);
    } finally {
      release(hold); // a turn that failed before taking its room
    }
  };

  const crawlTurn = async (job: CrawlJob, attempt: number, hold: Hold, watching: boolean, storedAtMs: number, log: Logger): Promise<Handled<CrawlJob>> => {
    let result;
    const crawlStarted = Date.now();
    try {
      const entry = deps.root.fromRef(job.manifest);
      result = await crawlClass(entry, deps, { ...cfg.crawl, keepQuery: cfg.keepQuery });
      if (job.only) {
        // A repair run: the class's other files are known to be fine.
        const wanted = new Set(job.only);
        result = { ...result, files: result.files.filter((f) => wanted.has(f.key) || wanted.has(f.path)) };
      }
    } catch (err) {
      log.warn({ err, attempt }, 'crawl failed');
      return { outcome: { kind: 'failed', retryable: !isPermanent(err), reason: `crawl failed: ${describeError(err)}` }, detail: job };
    }
    let live = liveState(result.live, job.startedAt, cfg);
    // The playlists as read before a repair run's filter: growth outside the files it repairs is growth too.
    const still = live === 'recrawl' ? liveStillness(job, result.playlistsDigest, storedAtMs, cfg.live.staleAfterMs) : undefined;
    if (still?.stale) {
      // Its recorder stopped without EXT-X-ENDLIST: watched until FLANTS_LIVE_MAX_WAIT, a back catalogue of such
      // recordings would hold the scan's watching for hours.
      log.warn(
        { unchangedSince: new Date(still.since ?? storedAtMs).toISOString(), staleAfterMs: cfg.live.staleAfterMs },
        'recording has not changed for FLANTS_LIVE_STALE_AFTER and has no EXT-X-ENDLIST: given up on, reported incomplete',
      );
      live = 'incomplete';
    }
    if (live === 'recrawl') lookedAtLive(Date.now() - crawlStarted);
    if (watching && live !== 'recrawl') {
      // It has ended, or is given up on (enqueued whole): it looked without room, and now needs room as a class
      // starting does, or waits for it as one (a review found a scan's recordings, all given up on in one round,
      // enqueued past the lane's bound).
      const room = await reserve(job);
      if (!room) {
        await deferUnstarted(job);
        return { outcome: { kind: 'ok' }, detail: job };
      }
      hold.held = room.held;
    }
    // A recording that is still live is only watched: its files are enqueued
    // once, by the crawl that finds it ended (or gives up on it), so that every
    // segment of every rendition is copied once and the playlists are copied
    // in their final form. Renditions grow in the middle of the crawl order,
    // so no earlier crawl's file numbering would stay valid.
    const all: TransferJob[] =
      live === 'recrawl'
        ? []
        : result.files.map((f, i) => ({
            classId: job.classId,
            runId: job.runId,
            i,
            src: f.ref,
            key: f.key,
            optional: f.optional || undefined,
          }));
    // A recording given up on while still live keeps growing, so no numbering holds across turns: it is
    // enqueued in one turn, the one exception to the lane's bound (README, Known limits).
    const sliced = live !== 'incomplete';
    const lane = laneOf(job.lane);
    // File numbers are positions in the crawl: after an edit, later turns would skip or repeat files, and a
    // playlist copied in an earlier turn would name files no turn copies. The class fails with the reason instead,
    // also when a later turn finds the recording live again (it would enqueue from 0 over numbers already used).
    const digest = keysDigest(all);
    // A later turn that finds the recording live again, even with the same files, would enqueue it whole (given up
    // on) from 0 over numbers already used (a review: reported incomplete, its first slice in the bulk lane).
    const liveAgain = job.enqueueFrom > 0 && live !== 'ended';
    const changed =
      liveAgain ||
      (job.enqueueFrom > 0 && ((job.bulkTotal !== undefined && job.bulkTotal !== all.length) || (job.bulkDigest !== undefined && job.bulkDigest !== digest)));
    if (changed) {
      const counts =
        job.bulkTotal !== undefined && job.bulkTotal !== all.length
          ? `${job.bulkTotal} files, now ${all.length}`
          : job.bulkDigest !== undefined && job.bulkDigest !== digest
            ? `${all.length} files, not the same ones`
            : `the same ${all.length} files, but live again: no EXT-X-ENDLIST`;
      return {
        outcome: { kind: 'failed', retryable: false, reason: `the class's playlists changed while it was being enqueued (${counts}); trigger it again` },
        detail: job,
      };
    }
    const from = Math.min(job.enqueueFrom, all.length);
    const jobs = sliced ? all.slice(from, from + (await turnSize(job, all.length - from, hold))) : all;
    if (!sliced) {
      // Enqueued whole: counted until the next reading, as turnSize counts a slice (its first slice live, the rest bulk).
      release(hold);
      const inLane = job.lane === 'live' ? Math.min(sliceLeft(job), jobs.length) : jobs.length;
      backlogs[job.lane].jobs += inLane;
      backlogs.bulk.jobs += jobs.length - inLane;
    }
    const rest = from + jobs.length < all.length;
    if (sliced && from === 0 && jobs.length === 0 && all.length > 0) {
      // Another crawl took the room meanwhile: not started yet, so nothing is announced (the aggregator would hold the run).
      await deferUnstarted(job);
      return { outcome: { kind: 'ok' }, detail: job };
    }
    try {
      // Long lists go in pieces first, so that no message outgrows NATS max_payload.
      for (const [kind, list] of [['refused', result.refused], ['skipped', result.skipped]] as const) {
        for (const [piece, items] of detailPieces(list, DETAILS_PER_MESSAGE).entries()) {
          const details: ClassDetails = { classId: job.classId, runId: job.runId, generation: job.generation, kind, piece, items };
          await laneEvents.publish(job.lane, 'details', (s) => deps.js.publish(s, JSON.stringify(details), { msgID: `details:${job.runId}:${job.generation}:${kind}:${piece}` }));
        }
      }
      const crawled: ClassCrawled = fitSamples({
        classId: job.classId,
        runId: job.runId,
        generation: job.generation,
        total: result.files.length,
        playlists: result.playlists,
        // A repair run numbers only the files it repairs: no playlist's run of indexes holds there.
        groups: job.only ? undefined : fileGroupsOf(result.runs),
        refused: result.refused.slice(0, SAMPLE),
        skipped: result.skipped.slice(0, SAMPLE),
        refusedCount: result.refusedCount,
        skippedCount: result.skippedCount,
        startedAt: job.startedAt,
        live,
      });
      // The count goes first: the aggregator must know the class size before results arrive.
      // Named by what it says: a retried attempt that finds the recording ended (or a
      // different count) is a new message, never dropped as a duplicate of the first.
      await laneEvents.publish(job.lane, 'crawled', (s) =>
        publishDurably(deps.js, s, JSON.stringify(crawled), { msgID: `crawled:${job.runId}:${job.generation}:${live}:${crawled.total}` }),
      );
      // Only a first slice is ever live: the rest of a recording given up on (one turn) goes in the bulk lane.
      const inLane = job.lane === 'live' ? Math.min(sliceLeft(job), jobs.length) : jobs.length;
      await publishJobs(jobs.slice(0, inLane), lane.transfer);
      await publishJobs(jobs.slice(inLane), subjects.transferBulk);
      // The rest of the class waits for its next turn: in the live lane while its first slice is not all enqueued,
      // then behind the bulk lane's classes. A live class's first slice goes ahead of everything, and the rest of a
      // very large one must not hold up the next recording.
      if (rest) {
        const stillLive = job.lane === 'live' && sliceLeft({ ...job, enqueueFrom: from + jobs.length }) > 0;
        const next: CrawlJob = { ...job, lane: stillLive ? 'live' : 'bulk', enqueueFrom: from + jobs.length, bulkTotal: all.length, bulkDigest: digest };
        await deferTurn(next, next.enqueueFrom, jobs.length === 0 ? noRoomDelayMs(next) : 0);
      }
      if (live === 'recrawl') {
        const next: CrawlJob = {
          ...job,
          generation: job.generation + 1,
          notBefore: new Date(Date.now() + cfg.live.recrawlIntervalMs).toISOString(),
          liveDigest: still?.digest,
          liveSince: still?.since,
        };
        // Marked as watching: a scan's recordings that never end would otherwise keep the crawl consumer busy, and
        // admission (which waits for it to be idle, so that classes under way finish first) would stall the scan.
        const h = headers();
        h.set(WATCH_HEADER, '1');
        await deps.js.publish(subjects.crawl, JSON.stringify(next), { msgID: `crawl:${job.runId}:g${next.generation}`, headers: h });
      }
    } catch (err) {
      // A refused or unanswered publish: this attempt enqueued only part of the class, so it is not done.
      log.warn({ err, attempt }, 'could not enqueue the class');
      return { outcome: { kind: 'failed', retryable: !isPermanent(err), reason: `crawl failed: could not enqueue its files: ${describeError(err)}` }, detail: job };
    }
    log.info({ files: result.files.length, enqueued: jobs.length, from, playlists: result.playlists, refused: result.refused.length, live }, 'class crawled');
    return { outcome: { kind: 'ok' }, detail: job };
  };

  // Every turn reads its lane's backlog, and each admission the aggregator's. A user not allowed to (permissions
  // from before both lanes were bounded, or before admission watched the aggregator) is told here, by name,
  // rather than failing every crawl after start.
  const mustRead = (what: string, stream: string, consumer: string, read: () => Promise<unknown>) =>
    read().catch((err: unknown) => {
      throw new Error(
        `the crawler cannot read ${what} (consumer ${stream}/${consumer}): ${describeError(err)}; ` +
          `allow it $JS.API.CONSUMER.INFO.${stream}.${consumer} (deploy/nats/flants.conf)`,
        { cause: err },
      );
    });
  await mustRead("the aggregator's backlog", deps.topology.streams.events, deps.topology.consumers.aggregatorBulk, readAggregatorBacklog);
  for (const lane of ['live', 'bulk'] as const) {
    await mustRead(`the ${lane} lane's transfer backlog`, deps.topology.streams.work, laneOf(lane).dispatcher, () => laneBacklog(lane));
  }
  const fail = (job: CrawlJob, reason: string) => failRun(deps.js, laneEvents, job, reason);
  const publisher = new AckedPublisher(deps.nc);
  const actor = await startActor<CrawlJob>({
    name: 'crawler',
    js: deps.js,
    jsm: deps.jsm,
    topology: deps.topology,
    serverVersion: deps.serverVersion,
    stream: deps.topology.streams.work,
    consumer: deps.topology.consumers.crawler,
    lowPriorityConsumer: deps.topology.consumers.crawlerBulk,
    lowPriorityAdmission: admission,
    keepsLowWaiting: (m) => !isWatch(m),
    logger,
    policy: policyOf(cfg),
    topologyOptions: topologyOptions(cfg),
    concurrency: 4,
    maxHeld: 8,
    handle: (ds) => Promise.all(ds.map(handleOne)),
    report: reportFailedRuns(deps.js, laneEvents, logger, 'class reported failed'),
    exhausted: async (m) => {
      const job = crawlJobSchema.safeParse(safeJson(m.data));
      if (job.success) await fail(job.data, `crawl was delivered ${m.deliveries} times without an outcome (redelivery cap)`);
    },
  }).catch((err: unknown) => {
    publisher.close(); // a start that failed leaves no PubAck sweep running
    throw err;
  });
  void actor.closed.finally(() => publisher.close());
  return actor;
}

/**
 * Whether a recording still live has stopped changing: its playlists
 * (`digest`) are the ones its last look found, and have been for
 * `staleAfterMs` (0: never stale). Measured on one clock, the stream's: each
 * re-crawl message's stored time (`storedAtMs`), never a crawler's own clock,
 * since the looks of one recording may run on crawlers whose clocks differ.
 * `since` is the stored time of the first re-crawl that found the digest
 * unchanged; the look before it, which first saw that digest, came after the
 * change, so the stillness is underestimated (given up on up to three
 * intervals late), never overestimated. A redelivered message is stored at the same
 * time, so its attempts decide alike.
 */
export function liveStillness(
  job: Pick<CrawlJob, 'liveDigest' | 'liveSince'>,
  digest: string,
  storedAtMs: number,
  staleAfterMs: number,
): { stale: boolean; digest: string; since?: number } {
  if (job.liveDigest !== digest) return { stale: false, digest };
  // A time from the future (a message's, not the stream's) counts from this message.
  const since = job.liveSince !== undefined && job.liveSince <= storedAtMs ? job.liveSince : storedAtMs;
  return { stale: staleAfterMs > 0 && storedAtMs - since >= staleAfterMs, digest, since };
}

/** When the stream stored a message (ms), on the server's clock. */
function storedAt(msg: JsMsg): number {
  return msg.time.getTime();
}

/** What identifies a bulk class's file list across turns: its destination keys, in order. */
function keysDigest(jobs: readonly TransferJob[]): string {
  const h = createHash('sha1');
  for (const j of jobs) h.update(j.key).update('\n');
  return h.digest('hex');
}
