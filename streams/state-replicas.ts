/**
 * The class-state and split-file buckets are updated with compare-and-set by
 * every aggregator and dispatcher at once. On a replicated stream, nats-server
 * before 2.11 checks the expected revision outside its Raft log: two writes made
 * against the same revision can both be accepted, and a leader elected after a
 * node failure can accept a write against a revision it has not applied yet
 * (nats-server#4320, #6194). The later write then silently replaces the earlier
 * one, and the files it counted are never reported. Measured here on a 3-node
 * 2.9.10 cluster: 1 to 13 files per class lost from the count when the work
 * stream's leader was killed with two aggregators running. A single-replica
 * bucket checks the revision under its stream's lock, so it never loses one;
 * these buckets stay at one replica unless the server is new enough.
 */

import type { JetStreamManager } from '@nats-io/jetstream';

/** Thrown when FLANTS_STATE_REPLICAS asks for replicated state on a server that cannot keep it exact. */
export class UnsafeStateReplicasError extends Error {
  override readonly name = 'UnsafeStateReplicasError';
}

/** The first nats-server release whose replicated compare-and-set is exact through leader elections. */
export const SAFE_REPLICATED_CAS = [2, 11, 0] as const;

function versionParts(v: string): number[] {
  return v.split(/[.-]/).slice(0, 3).map((x) => Number.parseInt(x, 10) || 0);
}

/** True when `version` is at least `min`. */
export function atLeast(version: string, min: readonly number[]): boolean {
  const have = versionParts(version);
  for (let i = 0; i < min.length; i++) {
    const a = have[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/** Refuses replicated state buckets on a server older than 2.11, naming the setting and the fix. */
export function assertStateReplicasSafe(serverVersion: string | undefined, replicas: number): void {
  if (replicas <= 1) return;
  if (serverVersion && atLeast(serverVersion, SAFE_REPLICATED_CAS)) return;
  throw new UnsafeStateReplicasError(
    `FLANTS_STATE_REPLICAS=${replicas} needs nats-server ${SAFE_REPLICATED_CAS.join('.')} or later, and this server is ${serverVersion ?? 'of unknown version'}: ` +
      'before 2.11 a replicated bucket can accept two compare-and-set writes made against the same revision, and files would go missing from the counts. ' +
      'Leave FLANTS_STATE_REPLICAS at 1 (streams still replicate with FLANTS_STREAM_REPLICAS), or upgrade nats-server.',
  );
}

/** A bucket's replicas as the server has them; undefined when it does not exist (or may not be read). */
export async function bucketReplicas(jsm: JetStreamManager, bucket: string): Promise<number | undefined> {
  return jsm.streams.info(`KV_${bucket}`).then((i) => i.config.num_replicas, () => undefined);
}

/**
 * Refuses a compare-and-set bucket that already has more than one replica on
 * a server older than 2.11: the setting alone would not catch a bucket made
 * before it (opening a bucket keeps its replicas), and that bucket loses counts.
 */
export async function assertStateBucketsSafe(jsm: JetStreamManager, serverVersion: string | undefined, buckets: readonly string[]): Promise<void> {
  if (serverVersion && atLeast(serverVersion, SAFE_REPLICATED_CAS)) return;
  for (const bucket of buckets) {
    const replicas = await bucketReplicas(jsm, bucket);
    if (replicas !== undefined && replicas > 1) {
      throw new UnsafeStateReplicasError(
        `the KV bucket ${bucket} has ${replicas} replicas, and nats-server ${serverVersion ?? '(unknown version)'} can accept two compare-and-set writes made against the same revision of a replicated bucket: files would go missing from the counts. ` +
          'Run `flants setup` with FLANTS_STATE_REPLICAS=1 (the default) to bring it to one replica, or upgrade nats-server to 2.11 or later.',
      );
    }
  }
}

/** Brings an existing bucket to `replicas` (the owner, `flants setup`, only); returns the replicas it had. */
export async function setBucketReplicas(jsm: JetStreamManager, bucket: string, replicas: number): Promise<number | undefined> {
  const info = await jsm.streams.info(`KV_${bucket}`).catch(() => undefined);
  if (!info || info.config.num_replicas === replicas) return info?.config.num_replicas;
  await jsm.streams.update(`KV_${bucket}`, { ...info.config, num_replicas: replicas });
  return info.config.num_replicas;
}
