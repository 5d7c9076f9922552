/**
 * Reads V8 CPU profiles (`node --cpu-prof`) and says where the time went, per
 * stage of the copy. A sample is charged to the nearest flants module on its
 * stack (so the SDK, HTTP and hashing work a module causes counts as that
 * module's stage), and, within it, to the kind of code it was in at the leaf
 * (flants itself, the AWS SDK, Node's HTTP, streams, crypto, JSON, GC...).
 * Only samples inside a time window count: the copy, not process start-up.
 * The profiler samples each thread on the wall clock, so with more threads
 * than cores the figures exceed the CPU time; shares, not sums, are the point.
 * Idle samples (`(idle)`, `(program)`: native code outside any JavaScript,
 * mostly the event loop waiting) are left out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: number[];
}

interface CpuProfile {
  readonly nodes: ProfileNode[];
  readonly startTime: number;
  readonly samples: number[];
  readonly timeDeltas: number[];
}

/** The stage each flants module belongs to, by its path under dist/. */
const STAGES: ReadonlyArray<readonly [RegExp, string]> = [
  [/\/actors\/(crawler|split-parts)\.js|\/hls\//, 'crawl and enqueue'],
  [/\/actors\/(dispatcher|wave-plan|adaptive-limit)\.js|\/lambda\/invoke-wave\.js/, 'dispatch: waves, Invoke round trip'],
  [/\/actors\/(aggregator|class-failures)\.js|\/tracking\//, 'aggregate: results, KV state, reports'],
  [/\/actors\/scanner\.js|\/discovery\//, 'scan'],
  [/\/streams\//, 'JetStream publish and consume'],
  [/\/lambda\/(local-endpoint|invoke-worker)\.js/, 'local Lambda endpoint (stands for AWS)'],
  [/\/lambda\/(copy-file|verify-stream|split-file|server-side-copy)\.js/, 'copy: GET, PUT, verification'],
  [/\/lambda\/list-destination\.js/, 'copy: destination listing'],
  [/\/lambda\/(transfer-handler|wave)\.js/, 'copy: wave handler'],
  [/\/storage\/(object-http|source-reader)\.js/, 'copy: object HTTP calls'],
  [/\/storage\//, 'copy: storage helpers'],
  [/\/observability\/|\/dashboard\//, 'metrics, dashboard, fleet presence'],
  [/\/config\/|\/cli\//, 'config and CLI'],
];

/** What kind of code a leaf frame is. */
function leafKind(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return 'V8 / native';
  if (/@aws-sdk|@smithy|fast-xml-parser/.test(url)) return 'AWS SDK';
  if (/@nats-io/.test(url)) return 'NATS client';
  if (/\/rxjs\//.test(url)) return 'RxJS';
  if (/\/zod\//.test(url)) return 'zod';
  if (/pino|sonic-boom|thread-stream/.test(url)) return 'logging';
  if (/prom-client/.test(url)) return 'metrics';
  if (/node:(_http|http|https|net|_tls|tls|internal\/http|internal\/net|internal\/stream_base|internal\/tls|internal\/dns)/.test(url)) return 'Node HTTP and sockets';
  if (/node:(internal\/)?(streams?|stream\/)/.test(url) || /node:internal\/streams/.test(url)) return 'Node streams';
  if (/node:(internal\/)?crypto/.test(url) || fn === 'update' || fn === 'digest') return 'hashing';
  if (/node:internal\/(worker|per_context\/messageport)|node:worker_threads/.test(url)) return 'worker messaging';
  if (fn === 'parse' || fn === 'stringify') return 'JSON';
  if (/\/dist\//.test(url)) return 'flants code';
  if (/^node:/.test(url)) return 'Node other';
  return url ? 'other libraries' : 'V8 builtins';
}

/** Milliseconds by stage, then by leaf kind; and by function (self time). */
export type Breakdown = Map<string, Map<string, number>> & { functions: Map<string, number> };

function emptyBreakdown(): Breakdown {
  return Object.assign(new Map<string, Map<string, number>>(), { functions: new Map<string, number>() });
}

/** Adds one profile's samples inside [fromUs, toUs] (process.hrtime microseconds; omit for all). */
export function addProfile(into: Breakdown, profile: CpuProfile, window?: { fromUs: number; toUs: number }): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOf = new Map<number, string>();
  const stage = (id: number): string => {
    const known = stageOf.get(id);
    if (known) return known;
    let found = 'outside flants code (event loop, GC, start-up)';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = byId.get(at)?.callFrame.url ?? '';
      if (!/\/dist\//.test(url) || /\/node_modules\//.test(url)) continue;
      const hit = STAGES.find(([re]) => re.test(url));
      if (hit) {
        found = hit[1];
        break;
      }
    }
    stageOf.set(id, found);
    return found;
  };
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    const node = byId.get(profile.samples[i] as number);
    if (!node || node.callFrame.functionName === '(idle)' || node.callFrame.functionName === '(program)') continue;
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, '')}`;
    into.functions.set(fn, (into.functions.get(fn) ?? 0) + delta / 1000);
    const s = stage(node.id);
    const kinds = into.get(s) ?? new Map<string, number>();
    const kind = leafKind(node.callFrame.url, node.callFrame.functionName);
    kinds.set(kind, (kinds.get(kind) ?? 0) + delta / 1000);
    into.set(s, kinds);
  }
}

/** Every `.cpuprofile` in `dir`, summed. */
export function breakdownOf(dir: string, window?: { fromUs: number; toUs: number }): Breakdown {
  const out = emptyBreakdown();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    addProfile(out, JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile, window);
  }
  return out;
}

/** Rows of `stage, ms, µs per file, top leaf kinds`, largest first. */
export function formatBreakdown(b: Breakdown, files: number): string[][] {
  const total = [...b.values()].reduce((n, k) => n + [...k.values()].reduce((a, x) => a + x, 0), 0);
  return [...b.entries()]
    .map(([stage, kinds]) => ({ stage, ms: [...kinds.values()].reduce((a, x) => a + x, 0), kinds }))
    .sort((a, b) => b.ms - a.ms)
    .map(({ stage, ms, kinds }) => [
      stage,
      `${Math.round(ms)} ms (${Math.round((100 * ms) / Math.max(1, total))} %)`,
      `${((ms * 1000) / Math.max(1, files)).toFixed(0)} µs/file`,
      [...kinds.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${Math.round((100 * v) / Math.max(1, ms))} %`).join(', '),
    ]);
}

/** The `n` functions with the most self time: `function module, ms, share`. */
export function topFunctions(b: Breakdown, n = 12): string[][] {
  const total = [...b.functions.values()].reduce((a, x) => a + x, 0);
  return [...b.functions.entries()]
    .sort((a, c) => c[1] - a[1])
    .slice(0, n)
    .map(([fn, ms]) => [fn, `${Math.round(ms)} ms`, `${((100 * ms) / Math.max(1, total)).toFixed(1)} %`]);
}
