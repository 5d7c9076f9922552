/**
 * Dashboard render benchmark: 500 classes × 5,000 segments by default (or
 * 2,000 classes × 16 renditions × 500 segments, the seed's shape) in headless
 * chromium, with a synthetic live state that changes 50 classes per push
 * (four pushes a second), 10 files each. Prints first-render, frame-time,
 * update-time and scrolling figures.
 * `node dist/dev/bench/dashboard-render.js [classes] [segments] [seconds] [renditions]`
 */
import { chromium } from 'playwright-core';
import { pino } from 'pino';
import { startDashboard } from '../../dashboard/server.js';
import { landFile, syntheticClass, syntheticLiveState, type SyntheticClass } from '../synthetic-dashboard.js';

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number) : 0;
};

/**
 * Runs the benchmark for `seconds`; returns its figures. `renditions` 0 gives
 * each class one run of `segments` files with no groups; more gives a master
 * over that many renditions of `segments` each, grouped as the crawler does.
 */
export async function dashboardRenderBenchmark(classes = 500, segments = 5_000, seconds = 10, renditions = 0) {
  const states = new Map<string, SyntheticClass>();
  const next = new Map<string, number>();
  for (let c = 0; c < classes; c++) {
    const id = `class-${String(c).padStart(4, '0')}`;
    const cls = syntheticClass(id, renditions, segments);
    states.set(id, cls);
    next.set(id, Math.floor(Math.random() * (cls.s.total ?? 1)));
  }
  const state = syntheticLiveState(states, { classes, active: classes });
  const ids = [...states.keys()];
  const tick = setInterval(() => {
    for (let k = 0; k < 50; k++) {
      const id = ids[Math.floor(Math.random() * ids.length)] as string;
      const e = states.get(id) as SyntheticClass;
      const total = e.s.total ?? 1;
      let at = next.get(id) ?? 0;
      for (let j = 0; j < 10; j++, at++) {
        landFile(e, at % total);
        e.inFlight.add((at + 20) % total);
      }
      next.set(id, at);
      state.touch(id);
    }
  }, 250);
  const run = { source: 'https://origin.example/vod/', destination: 's3://bench-dest/', namespace: 'bench' };
  const dash = await startDashboard({ port: 0, host: '127.0.0.1', state, logger: pino({ level: 'silent' }), run });
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
    // Scrolling a screen a frame: rows are drawn as they come into view, so this is where drawing costs show.
    const scroll = await page.evaluate(async (n) => {
      const w = globalThis as unknown as { requestAnimationFrame: (f: (t: number) => void) => void; scrollBy: (x: number, y: number) => void; innerHeight: number };
      const out: number[] = [];
      let last = performance.now();
      await new Promise<void>((resolve) => {
        const step = (t: number) => {
          out.push(t - last);
          last = t;
          w.scrollBy(0, w.innerHeight);
          if (out.length < n) w.requestAnimationFrame(step);
          else resolve();
        };
        w.requestAnimationFrame(step);
      });
      return out.slice(1);
    }, 120);
    return {
      classes, renditions, segments, firstPaintMs, frames: frames.length,
      frameP50: pct(frames, 50), frameP95: pct(frames, 95), frameP99: pct(frames, 99), frameMax: Math.max(...frames),
      updates: applyMs.length, updateP50: pct(applyMs, 50), updateP95: pct(applyMs, 95), updateMax: Math.max(...applyMs),
      scrollFrames: scroll.length, scrollP50: pct(scroll, 50), scrollP99: pct(scroll, 99), scrollMax: Math.max(...scroll),
    };
  } finally {
    clearInterval(tick);
    await browser.close();
    await dash.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // `node dist/dev/bench/dashboard-render.js [classes] [segments] [seconds] [renditions]`
  const [classes, segments, seconds, renditions] = process.argv.slice(2).map(Number);
  const r = await dashboardRenderBenchmark(classes || undefined, segments || undefined, seconds || undefined, renditions || 0);
  const f = (n: number) => n.toFixed(1);
  console.log(`dashboard ${r.classes} x ${r.renditions ? `${r.renditions} x ` : ''}${r.segments}: first full render ${r.firstPaintMs} ms; ${r.frames} frames, frame time p50 ${f(r.frameP50)} ms, p95 ${f(r.frameP95)} ms, p99 ${f(r.frameP99)} ms, max ${f(r.frameMax)} ms; ` +
    `${r.updates} updates (50 classes each), update time p50 ${f(r.updateP50)} ms, p95 ${f(r.updateP95)} ms, max ${f(r.updateMax)} ms; ` +
    `scrolling a screen a frame: ${r.scrollFrames} frames, p50 ${f(r.scrollP50)} ms, p99 ${f(r.scrollP99)} ms, max ${f(r.scrollMax)} ms`);
}
