/**
 * The one place that names subjects, streams, consumers and KV buckets.
 * A namespace prefixes all of them so that tests and demos never share state
 * with a production deployment on the same NATS account.
 */

/** Every name flants uses on NATS, derived from one namespace. */
export interface Topology {
  readonly subjects: {
    /** Trigger: a class was recorded and should be transferred. Kept for replay audits. */
    readonly recorded: string;
    /** The bulk lane's trigger (library scans): scanned only while `recorded` has nothing waiting. */
    readonly recordedBulk: string;
    /** Outcome: one per class run, complete or failed. */
    readonly transferred: string;
    readonly crawl: string;
    readonly transfer: string;
    /** The bulk lane (library scans): served only when the live lane above has nothing waiting. */
    readonly crawlBulk: string;
    readonly transferBulk: string;
    /** Everything the aggregator consumes first (the live lane's events), as a wildcard. */
    readonly aggregate: string;
    readonly crawled: string;
    readonly results: string;
    readonly classFailed: string;
    /** Long lists about a class run (refused, skipped URIs), in pieces. */
    readonly details: string;
    /** The bulk lane's events: taken by the aggregator only while the live lane's have none waiting. */
    readonly aggregateBulk: string;
    readonly crawledBulk: string;
    readonly resultsBulk: string;
    readonly detailsBulk: string;
    readonly classFailedBulk: string;
    readonly deadletter: string;
    /** Core NATS (not stored): waves starting and ending, for live views of what is in flight. */
    readonly waves: string;
  };
  readonly streams: {
    readonly classes: string;
    readonly work: string;
    readonly events: string;
    readonly deadletter: string;
    /** Keeps JetStream's max-deliveries advisories, so that every exhausted message gets an outcome. */
    readonly advisories: string;
  };
  readonly consumers: {
    readonly scanner: string;
    readonly scannerBulk: string;
    readonly crawler: string;
    readonly dispatcher: string;
    readonly crawlerBulk: string;
    readonly dispatcherBulk: string;
    readonly aggregator: string;
    readonly aggregatorBulk: string;
  };
  readonly kv: {
    /** Per-class aggregation state (bit fields), so it survives aggregator restarts. */
    readonly classes: string;
    /** The scanner's watermark for incremental catalogue scans. */
    readonly scanner: string;
    /** The dispatchers' record of which ranged parts of each split file are uploaded. */
    readonly parts: string;
    /** Each running flants process's presence record, expiring when it stops renewing it. */
    readonly fleet: string;
  };
}

/** A stage of the pipeline, as backlog views name it; the bulk lane's stages are shown on their own. */
export type Stage = 'scanner' | 'scanner-bulk' | 'crawler' | 'crawler-bulk' | 'dispatcher' | 'dispatcher-bulk' | 'aggregator' | 'aggregator-bulk';

/** Each stage's stream and durable consumer, in pipeline order: for backlog views (dashboard, status, metrics). */
export function stages(t: Topology): ReadonlyArray<readonly [stage: Stage, stream: string, consumer: string]> {
  return [
    ['scanner', t.streams.classes, t.consumers.scanner],
    ['scanner-bulk', t.streams.classes, t.consumers.scannerBulk],
    ['crawler', t.streams.work, t.consumers.crawler],
    ['crawler-bulk', t.streams.work, t.consumers.crawlerBulk],
    ['dispatcher', t.streams.work, t.consumers.dispatcher],
    ['dispatcher-bulk', t.streams.work, t.consumers.dispatcherBulk],
    ['aggregator', t.streams.events, t.consumers.aggregator],
    ['aggregator-bulk', t.streams.events, t.consumers.aggregatorBulk],
  ];
}

/** The lane a class's work is in: its events go to the aggregator on that lane's subjects. */
export type Lane = 'live' | 'bulk';

/** A lane's event subjects (a class run's count, its wave results, its long lists). */
export function eventSubjects(t: Topology, lane: Lane): { readonly crawled: string; readonly results: string; readonly details: string; readonly failed: string } {
  const s = t.subjects;
  return lane === 'bulk'
    ? { crawled: s.crawledBulk, results: s.resultsBulk, details: s.detailsBulk, failed: s.classFailedBulk }
    : { crawled: s.crawled, results: s.results, details: s.details, failed: s.classFailed };
}

/** Builds the topology for `namespace` (empty string in production). */
export function topology(namespace = ''): Topology {
  const dot = namespace ? `${namespace}.` : '';
  const under = namespace ? `${namespace}_` : '';
  return {
    subjects: {
      recorded: `${dot}class.recorded`,
      recordedBulk: `${dot}class.recorded.bulk`,
      transferred: `${dot}class.transferred`,
      crawl: `${dot}flants.crawl`,
      transfer: `${dot}flants.transfer`,
      crawlBulk: `${dot}flants.crawl.bulk`,
      transferBulk: `${dot}flants.transfer.bulk`,
      aggregate: `${dot}flants.agg.>`,
      crawled: `${dot}flants.agg.crawled`,
      results: `${dot}flants.agg.results`,
      classFailed: `${dot}flants.agg.failed`,
      details: `${dot}flants.agg.details`,
      // Not under flants.agg.>: the aggregator's first consumer keeps that filter, and a work queue's consumers must not overlap.
      aggregateBulk: `${dot}flants.agg-bulk.>`,
      crawledBulk: `${dot}flants.agg-bulk.crawled`,
      resultsBulk: `${dot}flants.agg-bulk.results`,
      detailsBulk: `${dot}flants.agg-bulk.details`,
      classFailedBulk: `${dot}flants.agg-bulk.failed`,
      deadletter: `${dot}flants.deadletter`,
      waves: `${dot}flants.live.waves`,
    },
    streams: {
      classes: `${under}FLANTS_CLASSES`,
      work: `${under}FLANTS_WORK`,
      events: `${under}FLANTS_EVENTS`,
      deadletter: `${under}FLANTS_DEADLETTER`,
      advisories: `${under}FLANTS_ADVISORIES`,
    },
    consumers: {
      scanner: 'scanner',
      scannerBulk: 'scanner_bulk',
      crawler: 'crawler',
      dispatcher: 'dispatcher',
      crawlerBulk: 'crawler_bulk',
      dispatcherBulk: 'dispatcher_bulk',
      aggregator: 'aggregator',
      aggregatorBulk: 'aggregator_bulk',
    },
    kv: { classes: `${under}flants_classes`, scanner: `${under}flants_scanner`, parts: `${under}flants_parts`, fleet: `${under}flants_fleet` },
  };
}
