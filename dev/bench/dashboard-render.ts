/**
 * Dashboard render benchmark: 500 classes × 5,000 segments in headless
 * chromium, with a synthetic live state that changes 50 classes per push
 * (four pushes a second). Prints frame-time and update-time percentiles.
 */
import { chromium } from 'playwright-core';
import { pino } from 'pino';
import { classView, type ClassView } from '../../dashboard/class-view.js';
import type { LiveState, Overall } from '../../dashboard/live-state.js';
import { startDashboard } from '../../dashboard/server.js';
import { BitField } from '../../tracking/bitfield.js';
import type { ClassStateJson } from '../../tracking/class-progress.js';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number) : 0;
};

/** Runs the benchmark for `seconds`; returns its figures. */
export async function dashboardRenderBenchmark(classes = 500, segments = 5_000, seconds = 10) {
  const states = new Map<string, { s: ClassStateJson; done: BitField; inflight: Set<number>; next: number }>();
  const now = new Date().toISOString();
  for (let c = 0; c < classes; c++) {
    const id = `class-${String(c).padStart(4, '0')}`;
    const s: ClassStateJson = {
      v: 1, classId: id, runId: '1-x', status: 'transferring', total: segments, playlists: 4, done: '', failed: '', doneCount: 0, failedCount: 0,
      bytes: 0, retries: 0, failures: {}, refused: [], skipped: [], live: 'ended', notes: [], startedAt: now, updatedAt: now, reported: false,
    };
    states.set(id, { s, done: new BitField(segments), inflight: new Set(), next: Math.floor(Math.random() * segments) });
  }
  const dirty = new Set<string>();
  const ids = [...states.keys()];
  const tick = setInterval(() => {
    for (let k = 0; k < 50; k++) {
      const id = ids[Math.floor(Math.random() * ids.length)] as string;
      const e = states.get(id);
      if (!e) continue;
      for (let j = 0; j < 10; j++) {
        e.done.set(e.next % segments);
        e.inflight.delete(e.next % segments);
        e.inflight.add((e.next + 20) % segments);
        e.next++;
      }
      e.s = { ...e.s, done: e.done.toHex(), doneCount: Math.min(segments, e.s.doneCount + 10), bytes: e.s.bytes + 10 * 500_000 };
      dirty.add(id);
    }
  }, 250);
  const view = (id: string): ClassView | undefined => {
    const e = states.get(id);
    return e ? classView(e.s, e.inflight) : undefined;
  };
  const overall = (): Overall => ({
    classes, active: classes, files: 0, bytes: 0, retries: 0, filesPerSecond: 2_000, bytesPerSecond: 1e9, activeWaves: 20,
    queues: { dispatcher: { pending: 1, unacked: 1 } }, history: Array.from({ length: 60 }, (_, i) => ({ t: i, files: 1_000 + i, bytes: 0 })), audits: [], fleet: [],
  });
  const state: LiveState = {
    classes: () => ids.map((id) => view(id) as ClassView),
    get: view,
    overall,
    takeChanges: () => {
      const out = { classes: [...dirty], overall: true };
      dirty.clear();
      return out;
    },
    close: async () => undefined,
  };
  const dash = await startDashboard({ port: 0, host: '127.0.0.1', state, logger: pino({ level: 'silent' }) });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const loadStart = Date.now();
    await page.goto(`${dash.url}/`);
    await page.waitForFunction(() => ((globalThis as unknown as { __flantsUpdates?: number }).__flantsUpdates ?? 0) >= 1, undefined, { timeout: 60_000 });
    const firstPaintMs = Date.now() - loadStart;
    const frames = await page.evaluate(async (ms) => {
      // Runs in the page; the project compiles without DOM types.
      const requestAnimationFrame = (globalThis as unknown as { requestAnimationFrame: (f: (t: number) => void) => void }).requestAnimationFrame;
      const out: number[] = [];
      let last = performance.now();
      const end = last + ms;
      await new Promise<void>((resolve) => {
        const step = (t: number) => {
          out.push(t - last);
          last = t;
          if (t < end) requestAnimationFrame(step);
          else resolve();
        };
        requestAnimationFrame(step);
      });
      return out;
    }, seconds * 1000);
    const applyMs = await page.evaluate(() => (globalThis as unknown as { __flantsApplyMs: number[] }).__flantsApplyMs.slice(1));
    return {
      classes, segments, firstPaintMs, frames: frames.length,
      frameP50: pct(frames, 50), frameP95: pct(frames, 95), frameP99: pct(frames, 99), frameMax: Math.max(...frames),
      updates: applyMs.length, updateP50: pct(applyMs, 50), updateP95: pct(applyMs, 95), updateMax: Math.max(...applyMs),
    };
  } finally {
    clearInterval(tick);
    await browser.close();
    await dash.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await dashboardRenderBenchmark();
  const f = (n: number) => n.toFixed(1);
  console.log(`dashboard ${r.classes} x ${r.segments}: first full render ${r.firstPaintMs} ms; ${r.frames} frames, frame time p50 ${f(r.frameP50)} ms, p95 ${f(r.frameP95)} ms, p99 ${f(r.frameP99)} ms, max ${f(r.frameMax)} ms; ` +
    `${r.updates} updates (50 classes each), update time p50 ${f(r.updateP50)} ms, p95 ${f(r.updateP95)} ms, max ${f(r.updateMax)} ms`);
}
