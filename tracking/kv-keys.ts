/**
 * Lists keys of a KV bucket under a prefix from the stream's subject index,
 * without a consumer: `kv.keys()` creates an ordered consumer per call, and a
 * sweep every minute left them behind on the server. Purged keys leave no
 * subject behind, so `open.` records, purged when their run is reported, make
 * the sweep proportional to the runs not yet reported.
 */
import type { JetStreamManager } from '@nats-io/jetstream';

/** Keys under `prefix` (a KV key prefix ending in "."), present or deleted-not-purged. */
export async function keysUnder(jsm: JetStreamManager, bucket: string, prefix: string): Promise<string[]> {
  const head = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${head}${prefix}>` });
  return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(head.length));
}

/** Removes a key and every trace of it (no delete marker is left). */
export async function purgeKey(jsm: JetStreamManager, bucket: string, key: string): Promise<void> {
  await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${key}` });
}
