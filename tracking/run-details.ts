/**
 * A run's details that can grow without bound (every failed attempt's reason,
 * every note, every refused or skipped URI) are kept out of its progress
 * state: each is one small KV record, written idempotently as it arrives, and
 * read back only once, to write the report.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Refusal } from '../streams/messages.js';
import { clip, type ProgressOp } from './class-progress.js';
import { keysUnder } from './kv-keys.js';
import { detailPrefix } from './run-keys.js';

/** Everything the report lists, read back from the records. */
export interface RunDetails {
  /** File index → key and every attempt's reason, in attempt order. */
  readonly failures: Map<number, { key: string; reasons: string[] }>;
  readonly notes: Array<{ key: string; note: string }>;
  readonly refused: Refusal[];
  readonly skipped: Refusal[];
  /** Failed attempts that were not a file's last word: each counted once, however often its result came. */
  readonly retries: number;
}

/** The detail records an op adds, as [key, JSON value]. Idempotent: the same op gives the same records. */
export function detailRecords(op: ProgressOp | { kind: 'details'; m: { classId: string; runId: string; generation: number; kind: 'refused' | 'skipped'; piece: number; items: Refusal[] } }): Array<[string, string]> {
  const at = detailPrefix(op.m.classId, op.m.runId);
  if (op.kind === 'result') {
    const r = op.m;
    if (!r.ok) return [[`${at}f.${r.i}.${r.attempt}`, JSON.stringify({ key: r.key, attempt: r.attempt, final: r.final, reason: clip(r.error ?? 'unknown error') })]];
    if (r.note) return [[`${at}n.${r.i}`, JSON.stringify({ key: r.key, note: clip(r.note) })]];
    return [];
  }
  if (op.kind === 'details') {
    const items = op.m.items.map((x) => ({ uri: clip(x.uri), reason: clip(x.reason) }));
    return [[`${at}${op.m.kind === 'refused' ? 'r' : 's'}.${op.m.generation}.${op.m.piece}`, JSON.stringify(items)]];
  }
  return [];
}

/** Reads every detail record of a run. */
export async function readDetails(kv: KV, jsm: JetStreamManager, bucket: string, classId: string, runId: string): Promise<RunDetails> {
  const at = detailPrefix(classId, runId);
  const failures = new Map<number, { key: string; reasons: Array<[number, string]> }>();
  let retries = 0;
  const notes: Array<{ key: string; note: string }> = [];
  // Live recordings list refusals again at each crawl: the latest generation's lists win.
  const lists = { r: new Map<number, Refusal[][]>(), s: new Map<number, Refusal[][]>() };
  const keys = await keysUnder(jsm, bucket, at);
  for (const k of keys) {
    const e = await kv.get(k);
    if (!e || e.operation !== 'PUT' || e.length === 0) continue;
    const [kind, a, b] = k.slice(at.length).split('.');
    if (kind === 'f') {
      const v = e.json<{ key: string; attempt: number; final?: boolean; reason: string }>();
      if (!v.final) retries++;
      const f = failures.get(Number(a)) ?? { key: v.key, reasons: [] };
      f.reasons.push([v.attempt, v.reason]);
      failures.set(Number(a), f);
    } else if (kind === 'n') notes.push(e.json<{ key: string; note: string }>());
    else if (kind === 'r' || kind === 's') {
      const gen = lists[kind].get(Number(a)) ?? [];
      gen[Number(b)] = e.json<Refusal[]>();
      lists[kind].set(Number(a), gen);
    }
  }
  const latest = (m: Map<number, Refusal[][]>) => (m.size ? (m.get(Math.max(...m.keys())) ?? []).flat() : []);
  return {
    failures: new Map(
      [...failures].map(([i, f]) => [i, { key: f.key, reasons: f.reasons.sort((x, y) => x[0] - y[0]).map(([n, r]) => `attempt ${n}: ${r}`) }]),
    ),
    notes,
    refused: latest(lists.r),
    skipped: latest(lists.s),
    retries,
  };
}

/** Removes a reported run's detail records in one request (the report holds them now). */
export async function purgeDetails(jsm: JetStreamManager, bucket: string, classId: string, runId: string): Promise<void> {
  await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${detailPrefix(classId, runId)}>` });
}
