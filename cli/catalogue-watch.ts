/**
 * In the daemon, with a MongoDB catalogue: follows its change stream so that a
 * newly recorded class is queued with no trigger at all. Needs a replica set;
 * on a standalone server it says so and the daemon runs without it.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import { manifestFor } from '../actors/scanner.js';
import type { FlantsConfig } from '../config/load-config.js';
import { supportsChangeStreams, watchCatalogue } from '../discovery/mongo-catalogue.js';
import type { Topology } from '../streams/topology.js';

/** Starts the watcher; resolves to undefined when the server cannot serve change streams. */
export async function startCatalogueWatch(
  config: FlantsConfig,
  js: JetStreamClient,
  t: Topology,
  logger: Logger,
): Promise<{ stop: () => Promise<void> } | undefined> {
  const c = config.catalogue;
  if (!c) return undefined;
  const log = logger.child({ actor: 'scanner', catalogue: c.collection });
  const client = new MongoClient(c.url, { appName: 'flants-daemon' });
  await client.connect();
  if (!(await supportsChangeStreams(client))) {
    log.warn('MongoDB is not a replica set: no change stream; run `flants scan` (e.g. from cron) to pick up new classes');
    await client.close();
    return undefined;
  }
  const watch = watchCatalogue(client, { ...c, rules: c }, async (x) => {
    if ('reason' in x) {
      log.info({ classId: x.classId, reason: x.reason }, 'catalogue change skipped');
      return;
    }
    const manifest = x.manifest ?? manifestFor(config.manifestTemplate, x.classId);
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: x.classId, manifest }), {
      // Not the scan's id: a scan that reached this class first must not make the live trigger a duplicate,
      // or the new recording would wait in the bulk lane.
      msgID: `live:${x.classId}:${x.recordedAt?.toISOString() ?? manifest}`,
    });
    log.info({ classId: x.classId }, 'new class from the catalogue change stream queued');
  }, log);
  log.info('following the catalogue change stream');
  return {
    stop: async () => {
      await watch.stop();
      await client.close();
    },
  };
}
