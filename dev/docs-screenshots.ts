/**
 * Draws the README's dashboard pictures: the real server and page in headless
 * chromium, over synthetic class states shaped like a real run (files land in
 * crawl order, a wave's worth in flight at the frontier, a few failures).
 * Run by hand after changing the page: `node dist/dev/docs-screenshots.js`.
 * Writes docs/dashboard-mid-run.png and docs/dashboard-2000-classes.png.
 */
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { pino } from 'pino';
import { startDashboard } from '../dashboard/server.js';
import { failFile, finish, landFile, syntheticClass, syntheticLiveState, type SyntheticClass } from './synthetic-dashboard.js';
import { prng } from './local/prng.js';

const rnd = prng(17);
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

/** The key file `i` would have: its rendition's folder and segment name. */
function keyOf(c: SyntheticClass, i: number): string {
  const g = c.s.groups?.find((x) => i >= x.from && i < x.from + x.count);
  const folder = g ? g.name.slice(0, g.name.lastIndexOf('/') + 1) : '';
  return `${c.s.classId}/${folder}seg${String(g ? i - g.from - 1 : i).padStart(5, '0')}.ts`;
}

/** A class `fraction` of the way through: done up to a frontier (with holes just behind it), a wave in flight past it. */
function midRun(id: string, renditions: number, segments: number, fraction: number, failures: Array<[number, string]> = [], startedMinutesAgo = 5): SyntheticClass {
  const c = syntheticClass(id, renditions, segments, minutesAgo(startedMinutesAgo));
  const total = c.s.total ?? 0;
  const frontier = Math.floor(total * fraction);
  for (let i = 0; i < frontier; i++) if (i < frontier - 40 || rnd() < 0.6) landFile(c, i, 200_000 + Math.floor(rnd() * 600_000));
  for (let i = frontier; i < Math.min(total, frontier + 32); i++) c.inFlight.add(i);
  for (const [i, reason] of failures) failFile(c, i, keyOf(c, i), reason);
  c.s = { ...c.s, retries: failures.length * 2 };
  return c;
}

/** A class run to its end: every file done but `failures`. */
function finished(id: string, renditions: number, segments: number, failures: Array<[number, string]> = [], startedMinutesAgo = 30): SyntheticClass {
  const c = midRun(id, renditions, segments, 1, [], startedMinutesAgo);
  for (let i = 0; i < (c.s.total ?? 0); i++) if (!failures.some(([f]) => f === i)) landFile(c, i);
  for (const [i, reason] of failures) failFile(c, i, keyOf(c, i), reason);
  finish(c, minutesAgo(startedMinutesAgo - 4));
  return c;
}

const NOT_FOUND = 'attempt 1: source answered HTTP 404 Not Found (permanent)';
const THROTTLED = 'attempt 3: source answered HTTP 503 Slow Down; gave up after 3 attempts';

function midRunScene(): Map<string, SyntheticClass> {
  const list = [
    midRun('2026-11-26-physics-101-lecture-12', 16, 500, 0.58, [[1203, THROTTLED], [2210, THROTTLED]], 6),
    midRun('2026-11-26-chemistry-204-lab-3', 8, 300, 0.21, [], 2),
    finished('2026-11-25-biology-110-lecture-9', 4, 120, [[37, NOT_FOUND], [38, NOT_FOUND]], 40),
    finished('2026-11-25-history-310-seminar-2', 16, 500, [], 55),
    finished('2026-11-25-maths-220-lecture-14', 16, 500, [], 70),
    finished('2026-11-24-physics-101-lecture-11', 16, 500, [], 90),
  ];
  const crawling = syntheticClass('2026-11-26-economics-150-lecture-4', 0, 0, minutesAgo(0.2));
  crawling.s = { ...crawling.s, status: 'crawling', total: null };
  list.push(crawling);
  return new Map(list.map((c) => [c.s.classId, c]));
}

function scaleScene(): Map<string, SyntheticClass> {
  const out = new Map<string, SyntheticClass>();
  for (let n = 0; n < 2_000; n++) {
    const id = `class-${String(n).padStart(4, '0')}`;
    const c =
      n % 250 === 5 ? finished(id, 16, 500, [[100 + n, NOT_FOUND]], 50)
      : n >= 1_998 ? midRun(id, 16, 500, 0.3 + rnd() * 0.5, [[50, THROTTLED]], 3)
      : finished(id, 16, 500, [], 60);
    out.set(id, c);
  }
  return out;
}

async function shoot(classes: Map<string, SyntheticClass>, path: string, viewport: { width: number; height: number }) {
  const state = syntheticLiveState(classes, { filesPerSecond: 1_840, bytesPerSecond: 412e6, activeWaves: 24 });
  const run = { source: 'https://media-origin.example.edu/recordings/', destination: 's3://lecture-archive/hls/', namespace: 'prod' };
  const dash = await startDashboard({ port: 0, host: '127.0.0.1', state, logger: pino({ level: 'silent' }), run });
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu'] });
  try {
    const page = await browser.newPage({ viewport });
    await page.goto(`${dash.url}/`);
    await page.waitForFunction(() => ((globalThis as unknown as { __flantsUpdates?: number }).__flantsUpdates ?? 0) >= 2, undefined, { timeout: 60_000 });
    await page.screenshot({ path });
    console.log(`wrote ${path}`);
  } finally {
    await browser.close();
    await dash.close();
  }
}

mkdirSync('docs', { recursive: true });
await shoot(midRunScene(), 'docs/dashboard-mid-run.png', { width: 1400, height: 1000 });
await shoot(scaleScene(), 'docs/dashboard-2000-classes.png', { width: 1400, height: 1400 });
