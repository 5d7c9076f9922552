/**
 * `flants scan`: one discovery pass. Classes come from the MongoDB catalogue
 * when one is configured, else from listing the source (S3) or its index file
 * (HTTP). Each valid class not already complete and unchanged is queued on
 * `class.recorded.bulk`: the same trigger as `class.recorded`, in the bulk lane,
 * so that new recordings never wait behind a scan.
 */
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { jetstream, JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { MongoClient } from 'mongodb';
import { manifestFor } from '../actors/scanner.js';
import type { FlantsConfig } from '../config/load-config.js';
import { SOURCE_VERSION_META } from '../storage/etag.js';
import type { SourceReader } from '../storage/source-reader.js';
import type { SourceRoot } from '../storage/source-root.js';
import { PublishWindow } from '../streams/publish-window.js';
import { ensureTopology, topologyOptions } from '../streams/ensure-topology.js';
import { topology } from '../streams/topology.js';
import { lastRunKey, type RunPointer } from '../tracking/run-keys.js';
import { discoverInBucket, discoverInIndex } from './bucket-discovery.js';
import { isSkipped, type Candidate, type Skipped } from './candidate.js';
import { scanCatalogue } from './mongo-catalogue.js';

/** What a scan needs. */
export interface ScanDeps {
  readonly config: FlantsConfig;
  readonly nc: NatsConnection;
  readonly reader: SourceReader;
  readonly root: SourceRoot;
  /** The source bucket's client, for listing (S3 sources). */
  readonly sourceS3?: S3Client;
  readonly dest: S3Client;
  readonly mongo?: MongoClient;
  /** Receives one line per class queued or skipped. */
  readonly print?: (line: string) => void;
}

/** How to scan. */
export interface ScanOptions {
  /** Only classes recorded after this (catalogue); overrides the stored watermark. */
  readonly since?: Date;
  /** Ignore the stored watermark: scan the whole catalogue. */
  readonly full?: boolean;
  readonly dryRun: boolean;
  /** Queue classes even when they are complete and unchanged at the destination. */
  readonly force: boolean;
}

/** What a scan did. */
export interface ScanSummary {
  readonly origin: 'catalogue' | 'bucket' | 'index';
  readonly seen: number;
  readonly queued: number;
  readonly skipped: number;
  readonly reasons: Record<string, number>;
  readonly seconds: number;
  readonly watermark?: string;
}

const PUBLISH_WINDOW = 512;

/** Runs one pass. */
export async function runScan(deps: ScanDeps, o: ScanOptions): Promise<ScanSummary> {
  const { config } = deps;
  const t = topology(config.namespace);
  const js = jetstream(deps.nc);
  const kvm = new Kvm(deps.nc);
  const started = Date.now();
  const print = deps.print ?? (() => undefined);
  // A scan may run before any daemon has: it creates the streams it publishes to.
  if (!o.dryRun) await ensureTopology(await jetstreamManager(deps.nc), t, topologyOptions(config), []);
  // A dry run creates nothing: it reads the buckets if they are there, and a bucket not there holds nothing.
  const bucket = (name: string) => (o.dryRun ? kvm.open(name) : kvm.create(name, { history: 1 }));
  const [scannerKv, classesKv] = await Promise.all([bucket(t.kv.scanner), bucket(t.kv.classes)]);
  const read = (kv: KV, key: string) =>
    kv.get(key).catch((err: unknown) => {
      if (o.dryRun && err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return null;
      throw err;
    });

  let origin: ScanSummary['origin'];
  let source: AsyncIterable<Candidate | Skipped>;
  let since = o.since;
  if (config.catalogue) {
    if (!deps.mongo) throw new Error('MONGODB_URL is set but no MongoDB client was given');
    if (!since && !o.full) {
      const stored = await read(scannerKv, 'watermark');
      if (stored?.operation === 'PUT' && stored.length > 0) since = new Date(stored.string());
    }
    origin = 'catalogue';
    source = scanCatalogue(deps.mongo, { ...config.catalogue, rules: config.catalogue }, since);
  } else if (config.source.kind === 's3') {
    if (!deps.sourceS3) throw new Error('an s3:// source needs its S3 client for discovery');
    origin = 'bucket';
    source = discoverInBucket(deps.sourceS3, config.source, config.discovery.pattern);
  } else {
    origin = 'index';
    source = discoverInIndex(deps.reader, deps.root, config.discovery.indexPath, config.discovery.pattern);
  }

  /** A class whose last run completed and whose entry playlist has not changed since is left alone. */
  const completeAndUnchanged = async (c: Candidate, manifest: string): Promise<boolean> => {
    const e = await read(classesKv, lastRunKey(c.classId));
    if (!e || e.operation !== 'PUT' || e.length === 0) return false;
    if (e.json<RunPointer>().status !== 'complete') return false;
    const entry = deps.root.fromRef(manifest);
    const [src, dst] = await Promise.all([
      deps.reader.stat(entry),
      deps.dest.send(new HeadObjectCommand({ Bucket: config.dest.bucket, Key: config.dest.prefix + entry.path })).catch(() => undefined),
    ]);
    const recorded = dst?.Metadata?.[SOURCE_VERSION_META];
    return Boolean(src?.version && recorded === src.version && dst?.ContentLength === src.length);
  };

  const seenIds = new Set<string>();
  const reasons: Record<string, number> = {};
  let seen = 0;
  let queued = 0;
  let skipped = 0;
  let newest = since;
  const skip = (classId: string, reason: string) => {
    skipped++;
    const kind = reason.replace(/\(.*\)|:.*$/, '').trim();
    reasons[kind] = (reasons[kind] ?? 0) + 1;
    print(`skip   ${classId}: ${reason}`);
  };
  const window = new PublishWindow(PUBLISH_WINDOW);
  for await (const x of source) {
    seen++;
    if (isSkipped(x)) {
      skip(x.classId, x.reason);
      continue;
    }
    const changed = x.changedAt ?? x.recordedAt;
    if (changed && (!newest || changed > newest)) newest = changed;
    if (seenIds.has(x.classId)) {
      skip(x.classId, 'listed twice in this scan');
      continue;
    }
    seenIds.add(x.classId);
    const manifest = x.manifest ?? manifestFor(config.manifestTemplate, x.classId);
    if (!o.force && (await completeAndUnchanged(x, manifest))) {
      skip(x.classId, 'already complete and unchanged at the destination');
      continue;
    }
    queued++;
    print(`${o.dryRun ? 'would queue' : 'queue '} ${x.classId}  ${manifest}`);
    if (o.dryRun) continue;
    // The same class from the same listing is queued once, even if two scans overlap.
    // A library scan is the bulk lane: it yields to new recordings, re-triggers and repairs.
    const p = js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: x.classId, manifest }), {
      msgID: o.force ? undefined : `scan:${x.classId}:${x.recordedAt?.toISOString() ?? manifest}`,
    });
    await window.add(p);
  }
  // Every trigger is in the stream before the watermark moves past it.
  await window.drain();
  if (origin === 'catalogue' && newest && !o.dryRun) await scannerKv.put('watermark', newest.toISOString());
  return { origin, seen, queued, skipped, reasons, seconds: (Date.now() - started) / 1000, watermark: newest?.toISOString() };
}
