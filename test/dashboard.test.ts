/**
 * The live dashboard in a real browser (playwright-core driving Debian's
 * chromium) against a daemon that is transferring a library: classes appear,
 * active and failed ones first; each rendition is a labelled row of cells,
 * in-flight files drawn unlike pending ones; a failed class has its failed
 * share in red; a failed file shows its reason; a finished class collapses and
 * links its report; the header names source, destination and namespace; and a
 * class id made of HTML is shown as text. Each test saves a screenshot under
 * test/artifacts/.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { jetstream } from '@nats-io/jetstream';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { auditsBucket } from '../audit/run-audit.js';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import type { FlantsConfig } from '../config/load-config.js';
import { runContextOf } from '../dashboard/run-context.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { S3Server } from '../dev/local/s3-server.js';
import { openClassStateKv } from '../streams/ensure-topology.js';
import { topology } from '../streams/topology.js';
import { runStateKey } from '../tracking/run-keys.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { natsClient, startLambda, startNats, startS3, testConfig, testLogger } from './helpers/services.js';

const ARTIFACTS = 'test/artifacts';
const XSS_ID = '<img src=x onerror="window.__xss=1">';
const media = (names: string[], end = true) => ['#EXTM3U', '#EXT-X-TARGETDURATION:2', ...names.flatMap((n) => ['#EXTINF:2,', n]), end ? '#EXT-X-ENDLIST' : '', ''].join('\n');
const master = (renditions: string[]) => ['#EXTM3U', ...renditions.flatMap((r, i) => [`#EXT-X-STREAM-INF:BANDWIDTH=${(i + 1) * 100_000}`, r]), ''].join('\n');
const SOURCE_SECRET = 'source-secret-never-shown-0123';
/** The page's cell colours (dashboard/page.ts), as getImageData reads them. */
const DONE_RGBA = [46, 125, 50, 255];
/** Every file of a class as drawn: its canvas pixel, and what hovering it says (a real mousemove handler, sent from the page). */
interface Cell {
  readonly i: number;
  readonly rgba: number[];
  readonly title: string;
}

describe('dashboard - live in a real browser', () => {
  let nats: NatsServer;
  let dst: S3Server;
  let lambda: LocalLambda;
  let origin: Origin;
  let daemon: Daemon;
  let config: FlantsConfig;
  let browser: Browser;
  let page: Page;
  let client: Awaited<ReturnType<typeof natsClient>>;

  const row = (id: string) => page.evaluate((cid) => {
    const d = [...document.querySelectorAll<HTMLDetailsElement>('details.cls')].find((x) => x.dataset.classId === cid);
    if (!d) return undefined;
    // The grid is made when the class is first drawn.
    const canvas = d.querySelector('canvas');
    const labels = d.querySelector<HTMLElement>('.labels');
    return {
      open: d.open,
      className: d.className,
      id: d.querySelector('.id')?.textContent ?? '',
      stats: d.querySelector('.stats')?.textContent ?? '',
      labels: !labels || labels.hidden ? [] : (labels.textContent ?? '').split('\n'),
      lines: canvas?.height ?? 0,
      times: { text: d.querySelector('.times')?.textContent ?? '', title: (d.querySelector('.times') as HTMLElement).title },
      report: (d.querySelector('a.report') as HTMLAnchorElement).hidden ? undefined : (d.querySelector('a.report') as HTMLAnchorElement).href,
      info: d.querySelector('.cell-info')?.textContent ?? '',
      failures: [...d.querySelectorAll('.failures li')].map((li) => li.textContent ?? ''),
    };
  }, id);

  /** Class ids in the order the page shows them. */
  const shown = () => page.evaluate(() => [...document.querySelectorAll<HTMLElement>('details.cls')].map((d) => d.dataset.classId as string));

  /** Reads every drawn cell of a class in one go, so no update lands between a pixel and its tooltip. */
  const cells = (id: string) => page.evaluate((cid) => {
    const d = [...document.querySelectorAll<HTMLDetailsElement>('details.cls')].find((x) => x.dataset.classId === cid);
    const canvas = d?.querySelector('canvas');
    const at = (window as unknown as { __flantsCellAt: (c: string, i: number) => { px: number; py: number; x: number; y: number } | undefined }).__flantsCellAt;
    if (!canvas || canvas.width === 0) return [];
    const data = (canvas.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
    const box = canvas.getBoundingClientRect();
    const out: Array<{ i: number; rgba: number[]; title: string }> = [];
    for (let i = 0; ; i++) {
      const p = at(cid, i);
      if (!p) break;
      const o = (p.py * canvas.width + p.px) * 4;
      canvas.dispatchEvent(new MouseEvent('mousemove', { clientX: box.left + p.x, clientY: box.top + p.y, bubbles: true }));
      out.push({ i, rgba: [data[o], data[o + 1], data[o + 2], data[o + 3]] as number[], title: canvas.title });
    }
    return out;
  }, id) as Promise<Cell[]>;

  /** Where file `i` of a class is on the screen, for a real mouse. */
  const cellOnScreen = async (id: string, i: number) => {
    const canvas = page.locator(`details.cls[data-class-id="${id}"] canvas`);
    await canvas.scrollIntoViewIfNeeded();
    const box = await canvas.boundingBox();
    const p = await page.evaluate(([cid, n]) => (window as unknown as { __flantsCellAt: (c: string, i: number) => { x: number; y: number } }).__flantsCellAt(cid as string, n as number), [id, i]);
    if (!box || !p) throw new Error(`file ${i} of ${id} is not drawn`);
    return { x: box.x + p.x, y: box.y + p.y };
  };

  const waitFor = async <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> => {
    for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
      const v = await fn();
      if (v) return v;
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    [nats, dst, lambda] = await Promise.all([startNats(), startS3('dest-bucket'), startLambda()]);
    const files: Record<string, string> = {};
    // alpha: a master over two renditions of 30 slow segments, 63 files, still running while the others end.
    const slow = Array.from({ length: 30 }, (_, i) => `s${i}.ts`);
    files['/vod/alpha/master.m3u8'] = master(['r0/index.m3u8', 'r1/index.m3u8']);
    for (const r of ['r0', 'r1']) {
      files[`/vod/alpha/${r}/index.m3u8`] = media(slow);
      for (const n of slow) files[`/vod/alpha/${r}/${n}`] = `alpha ${r} ${n}`;
    }
    files['/vod/broken/master.m3u8'] = media(['ok.ts', 'gone.ts']);
    files['/vod/broken/ok.ts'] = 'ok';
    // keyed: references 4 URIs, copies 3 files; its DRM key URI is skipped, and the row says so.
    files['/vod/keyed/master.m3u8'] = ['#EXTM3U', '#EXT-X-TARGETDURATION:2', '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://key-1"', '#EXTINF:2,', 'a.ts', '#EXTINF:2,', 'b.ts', '#EXT-X-ENDLIST', ''].join('\n');
    files['/vod/keyed/a.ts'] = 'a';
    files['/vod/keyed/b.ts'] = 'b';
    files['/vod/xss/master.m3u8'] = media(['a.ts']);
    files['/vod/xss/a.ts'] = 'a';
    origin = await startOrigin(files);
    for (const r of ['r0', 'r1']) for (const n of slow) origin.delays.set(`/vod/alpha/${r}/${n}`, 300);
    config = testConfig({
      NATS_URL: nats.url,
      FLANTS_SOURCE: `${origin.url}/vod/`,
      FLANTS_DEST: 's3://dest-bucket/',
      FLANTS_DEST_ENDPOINT: dst.endpoint,
      FLANTS_LAMBDA_ENDPOINT: lambda.url,
      FLANTS_BATCH_SIZE: '4',
      FLANTS_BATCH_WAIT: '50ms',
      FLANTS_WAVE_CONCURRENCY: '1',
      FLANTS_FILE_CONCURRENCY: '2',
      FLANTS_MAX_ATTEMPTS: '1',
      // Never used for an HTTP origin, and never shown: the header test looks for it.
      FLANTS_SOURCE_ACCESS_KEY_ID: 'AKIDSOURCEKEY0000000',
      FLANTS_SOURCE_SECRET_ACCESS_KEY: SOURCE_SECRET,
    });
    daemon = await startDaemon({ config, logger: testLogger() });
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    await page.goto(`${daemon.dashboardUrl}/`);
    client = await natsClient(nats.url);
    const t = topology(config.namespace);
    const js = jetstream(client);
    // alpha last: it is still transferring when the small classes have ended.
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'broken' }));
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'keyed' }));
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: XSS_ID, manifest: 'xss/master.m3u8' }));
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'alpha' }));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await client?.close();
    await Promise.all([lambda?.close(), dst?.close(), nats?.close(), origin?.close()]);
  });

  it('dashboard - each class appears', async () => {
    for (const id of ['alpha', 'broken', 'keyed', XSS_ID]) await waitFor(`row ${id}`, () => row(id));
    expect(await page.locator('details.cls').count()).toBe(4);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-classes.png`, fullPage: true });
  });

  it('dashboard - active and failed classes come first, then the rest', async () => {
    // Sorted by id, the HTML id ('<' sorts first) would lead and alpha would follow it.
    await waitFor('alpha active while the others have ended', async () => {
      const [a, b, k, x] = await Promise.all(['alpha', 'broken', 'keyed', XSS_ID].map((id) => row(id)));
      return a?.className.includes('st-transferring') && b?.className.includes('st-failed') && k?.className.includes('st-complete') && x?.className.includes('st-complete');
    });
    expect(await shown()).toEqual(['alpha', 'broken', XSS_ID, 'keyed']);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-order.png`, fullPage: true });
  });

  it('dashboard - one labelled row of cells per rendition, in flight drawn unlike pending', async () => {
    const r = await waitFor('alpha grid', async () => {
      const x = await row('alpha');
      return x && x.labels.length === 3 ? x : undefined;
    });
    // The master, then each rendition with its playlist and 30 segments: one canvas line each.
    expect(r.labels.map((l) => l.replace(/^\s*\d+\/\d+\s+/, ''))).toEqual(['master.m3u8', 'r0/index.m3u8', 'r1/index.m3u8']);
    expect(r.labels[1]).toMatch(/^ *\d+\/31  r0/);
    expect(r.lines).toBe(3);
    const sample = await waitFor('files in flight and pending at once', async () => {
      const c = await cells('alpha');
      return c.some((x) => x.title.includes('· in flight')) && c.some((x) => x.title.includes('· pending')) ? c : undefined;
    });
    expect(sample).toHaveLength(63);
    const colours = (state: string) => new Set(sample.filter((x) => x.title.endsWith(`· ${state}`)).map((x) => x.rgba.join(',')));
    const [flight, pending] = [colours('in flight'), colours('pending')];
    expect(flight.size).toBe(1);
    expect(pending.size).toBe(1);
    expect([...flight][0]).not.toBe([...pending][0]);
    // In flight is solid blue; pending is a faint, see-through grey.
    const [fr, , fb, fa] = ([...flight][0] as string).split(',').map(Number) as number[];
    expect(fa).toBe(255);
    expect(fb).toBeGreaterThan((fr as number) + 100);
    expect(Number(([...pending][0] as string).split(',')[3])).toBeLessThan(128);
    // A cell names its file: index, rendition, place in it.
    expect(sample[40]?.title).toMatch(/^file #40 · r1\/index\.m3u8, 9 of 31 · /);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-progress.png`, fullPage: true });
  });

  it('dashboard - a failed class shows its failed share in red on the bar', async () => {
    await waitFor('broken failed', async () => (await row('broken'))?.className.includes('st-failed'));
    const bar = await page.evaluate(() => {
      const b = document.querySelector('details.cls[data-class-id="broken"] .bar') as HTMLElement;
      const part = (sel: string) => {
        const e = b.querySelector(sel) as HTMLElement;
        return { left: e.getBoundingClientRect().left - b.getBoundingClientRect().left, width: e.getBoundingClientRect().width, colour: getComputedStyle(e).backgroundColor };
      };
      return { width: b.getBoundingClientRect().width, ok: part('.ok'), bad: part('.bad') };
    });
    // broken: master and ok.ts done, gone.ts failed.
    expect(bar.bad.colour).toBe('rgb(198, 40, 40)');
    expect(bar.ok.colour).toBe('rgb(46, 125, 50)');
    expect(bar.bad.width).toBeCloseTo(bar.width / 3, 0);
    expect(bar.ok.width).toBeCloseTo((2 * bar.width) / 3, 0);
    expect(bar.bad.left).toBeCloseTo(bar.ok.width, 0);
    // The header's count of files says how many failed too: done alone would count fewer files than there are.
    expect(await waitFor('failed in the header', () => page.evaluate(() => /files done\d+ \(1 failed\)/.test(document.getElementById('overall')?.textContent ?? '')))).toBe(true);
    await page.locator('details.cls[data-class-id="broken"] .bar').screenshot({ path: `${ARTIFACTS}/dashboard-failed-bar.png` });
  });

  it('dashboard - a failed file shows its reason, and clicking its cell names it', async () => {
    const r = await waitFor('broken failures', async () => {
      const x = await row('broken');
      return x && x.failures.length > 0 ? x : undefined;
    });
    expect(r.failures.join('\n')).toMatch(/^#2 broken\/gone.ts \(failed\): attempt 1: .*HTTP 404/);
    expect(r.open).toBe(true);
    const at = await cellOnScreen('broken', 2);
    await page.mouse.click(at.x, at.y);
    const info = await waitFor('cell info', async () => (await row('broken'))?.info || undefined);
    expect(info).toMatch(/^file #2 · failed · broken\/gone.ts: attempt 1: .*HTTP 404/);
    expect((await cells('broken')).find((c) => c.i === 2)?.rgba).toEqual([198, 40, 40, 255]);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-failed.png`, fullPage: true });
  });

  it('dashboard - a finished class collapses, and its cells are all done when opened', async () => {
    const r = await waitFor('alpha collapsed', async () => {
      const x = await row('alpha');
      return x && x.className.includes('st-complete') && !x.open ? x : undefined;
    });
    expect(r.open).toBe(false);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-collapsed.png`, fullPage: true });
    await page.click('details.cls[data-class-id="alpha"] > summary .id');
    const all = await waitFor('alpha drawn done', async () => {
      const c = await cells('alpha');
      return c.length === 63 && c.every((x) => x.title.endsWith('· done')) ? c : undefined;
    });
    for (const c of all) expect(c.rgba).toEqual(DONE_RGBA);
    expect((await row('alpha'))?.labels).toEqual(['    1/1  master.m3u8', '  31/31  r0/index.m3u8', '  31/31  r1/index.m3u8']);
    // Failed first, then the rest by id.
    expect(await shown()).toEqual(['broken', XSS_ID, 'alpha', 'keyed']);
  });

  it('dashboard - a class counts the references it did not copy', async () => {
    const r = await waitFor('keyed complete', async () => {
      const x = await row('keyed');
      return x?.className.includes('st-complete') ? x : undefined;
    });
    // Four references: the playlist, two segments, and a DRM key URI that is not a file.
    expect(r.stats).toMatch(/^3\/3 files \(100%\) .* · 1 skipped \(referenced, not copied\)$/);
    // One playlist's files: one grid, no labels.
    if (!r.open) await page.click('details.cls[data-class-id="keyed"] > summary .id');
    const opened = await waitFor('keyed drawn', async () => {
      const x = await row('keyed');
      return x?.lines === 1 ? x : undefined;
    });
    expect(opened.labels).toEqual([]);
  });

  it('dashboard - each row shows when its class started and finished', async () => {
    const api = (await (await fetch(`${daemon.dashboardUrl}/api/classes/keyed`)).json()) as { startedAt: string; finishedAt: string };
    const r = await row('keyed');
    expect(r?.times.title).toBe(`${api.startedAt} → ${api.finishedAt}`);
    expect(r?.times.text).toMatch(/^started \S.* · finished \S/);
    expect(Date.parse(api.finishedAt)).toBeGreaterThanOrEqual(Date.parse(api.startedAt));
  });

  it('dashboard - the report link serves the class report', async () => {
    const href = await waitFor('keyed report link', async () => (await row('keyed'))?.report);
    expect(new URL(href).pathname).toBe('/report/keyed');
    const res = await page.request.get(href);
    expect(res.status()).toBe(200);
    expect(res.headers()['content-type']).toBe('application/json; charset=utf-8');
    expect(await res.json()).toMatchObject({ classId: 'keyed', status: 'complete' });
    // The HTML class id's report, through the same link the page builds.
    const xss = await waitFor('xss report link', async () => (await row(XSS_ID))?.report);
    expect(await (await page.request.get(xss)).json()).toMatchObject({ classId: XSS_ID });
    // Only the shown run's report object can be read: ids are checked, never joined into a path.
    const status = async (path: string) => (await fetch(`${daemon.dashboardUrl}${path}`)).status;
    expect(await status('/report/..%2F..%2Fconfig.json')).toBe(400);
    expect(await status('/report/%E0%A4%A')).toBe(400);
    expect(await status('/report/nope')).toBe(404);
  });

  it('dashboard - the header names source, destination and namespace, never credentials', async () => {
    const text = await waitFor('run line', () => page.evaluate(() => document.getElementById('run')?.textContent || undefined));
    expect(text).toBe(`source ${origin.url}/vod/destination s3://dest-bucket/ at ${dst.endpoint}namespace ${config.namespace}`);
    const html = await page.content();
    for (const secret of [SOURCE_SECRET, 'AKIDSOURCEKEY0000000']) {
      expect(html).not.toContain(secret);
      expect(JSON.stringify(await (await fetch(`${daemon.dashboardUrl}/api/classes`)).json())).not.toContain(secret);
    }
    // An endpoint given with a user part or a signed query shows neither.
    const shownRun = runContextOf({ ...config, destS3: { ...config.destS3, endpoint: 'https://AKIAUSER:s3cr3t@s3.example.com/?X-Amz-Signature=abc123' } });
    expect(shownRun.destination).toBe('s3://dest-bucket/ at https://s3.example.com');
    // Forms a look for "://" misses, which URL parsers (the SDK's and the browser's) still read as a user part.
    for (const endpoint of ['https:AKIAUSER:s3cr3t@s3.example.com:9000', 'https:/AKIAUSER:s3cr3t@s3.example.com:9000']) {
      expect(runContextOf({ ...config, sourceS3: { ...config.sourceS3, endpoint }, destS3: { ...config.destS3, endpoint } }).destination).toBe('s3://dest-bucket/ at https://s3.example.com:9000');
    }
    await page.locator('header').screenshot({ path: `${ARTIFACTS}/dashboard-header.png` });
  });

  it('dashboard - the favicon answers with an SVG image, and the page links it', async () => {
    for (const path of ['/favicon.ico', '/favicon.svg']) {
      const res = await fetch(`${daemon.dashboardUrl}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/svg+xml');
      expect(await res.text()).toMatch(/^<svg /);
    }
    expect(await page.getAttribute('link[rel="icon"]', 'href')).toBe('/favicon.svg');
  });

  it('dashboard - a class id containing HTML is shown as text', async () => {
    const r = await waitFor('xss row', () => row(XSS_ID));
    expect(r.id).toBe(XSS_ID);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-escaping.png`, fullPage: true });
  });

  it('dashboard - shows the progress of an audit', async () => {
    const kv = await new Kvm(client).create(auditsBucket(config.namespace), { history: 1 });
    await kv.put('audit.test-audit', JSON.stringify({ auditId: 'test-audit', startedAt: new Date().toISOString(), classes: 3, done: 1, drift: 2 }));
    const text = await waitFor('audit line', () => page.evaluate(() => document.getElementById('audits')?.textContent || undefined));
    expect(text).toBe('audit test-audit: 1/3 classes, 2 differences, running');
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-audit.png`, fullPage: true });
  });

  it('dashboard - the fleet table lists the running process with its actors', async () => {
    await page.click('#fleet > summary');
    const row = await waitFor('fleet row', () =>
      page.evaluate(() => document.querySelector('#fleet-table tr[data-member]')?.textContent || undefined),
    );
    expect(row).toContain(`pid ${process.pid}`);
    for (const actor of ['scanner', 'crawler', 'dispatcher', 'aggregator']) expect(row).toContain(actor);
    expect(await page.evaluate(() => document.querySelector('#fleet > summary')?.textContent)).toBe('fleet: 1 process');
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-fleet.png`, fullPage: true });
  });

  it('dashboard - the JSON API and flants status serve the same data', async () => {
    const all = (await (await fetch(`${daemon.dashboardUrl}/api/classes`)).json()) as { classes: Array<{ classId: string }> };
    expect(all.classes.map((c) => c.classId).sort()).toEqual(['alpha', 'broken', 'keyed', XSS_ID].sort());
    const one = (await (await fetch(`${daemon.dashboardUrl}/api/classes/${encodeURIComponent(XSS_ID)}`)).json()) as { classId: string; total: number };
    expect(one).toMatchObject({ classId: XSS_ID, total: 2 });
    expect((await fetch(`${daemon.dashboardUrl}/api/classes/nope`)).status).toBe(404);
    // `broken` failed, so status exits 1 (README, Exit codes) and still prints everything.
    const run = (cmd: string, args: string[], o: { env: NodeJS.ProcessEnv }) =>
      new Promise<{ stdout: string; code: number }>((resolve) => {
        execFile(cmd, args, o, (err, stdout) => resolve({ stdout, code: err ? Number((err as { code?: number }).code ?? -1) : 0 }));
      });
    const { stdout, code } = await run(process.execPath, ['dist/cli.js', 'status', '--json'], { env: { ...process.env, NATS_URL: nats.url, FLANTS_NAMESPACE: config.namespace } });
    expect(code).toBe(1);
    const snap = JSON.parse(stdout) as { classes: Array<{ classId: string; status: string }>; queues: Record<string, unknown> };
    expect(snap.classes.map((c) => c.classId).sort()).toEqual(['alpha', 'broken', 'keyed', XSS_ID].sort());
    expect(Object.keys(snap.queues).sort()).toEqual(['aggregator', 'aggregator-bulk', 'crawler', 'crawler-bulk', 'dispatcher', 'dispatcher-bulk', 'scanner', 'scanner-bulk']);
    const text = (await run(process.execPath, ['dist/cli.js', 'status'], { env: { ...process.env, NATS_URL: nats.url, FLANTS_NAMESPACE: config.namespace } })).stdout;
    expect(text).toMatch(/\[#+\] 100% complete +alpha/);
    // The fleet: this test's process runs every actor.
    expect(text).toMatch(new RegExp(`fleet: 1 process\\n  \\S+ pid ${process.pid} on \\S+: (?=.*scanner)(?=.*crawler)(?=.*dispatcher)(?=.*aggregator)`));
  });

  it('dashboard - binds loopback by default and enforces its bearer token', async () => {
    expect(new URL(daemon.dashboardUrl as string).hostname).toBe('127.0.0.1');
    const guarded = await startDaemon({
      config: { ...config, dashboard: { ...config.dashboard, token: 'a-long-dashboard-token' } },
      logger: testLogger(),
      actors: ['aggregator'],
    });
    try {
      expect((await fetch(`${guarded.dashboardUrl}/api/classes`)).status).toBe(401);
      expect((await fetch(`${guarded.dashboardUrl}/api/classes`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
      expect((await fetch(`${guarded.dashboardUrl}/api/classes`, { headers: { authorization: 'Bearer a-long-dashboard-token' } })).status).toBe(200);
      expect((await fetch(`${guarded.dashboardUrl}/?token=a-long-dashboard-token`)).status).toBe(200);
      expect((await fetch(`${guarded.dashboardUrl}/report/keyed`)).status).toBe(401);
      // The icon is asked for without the page's token, and says nothing about the data.
      expect((await fetch(`${guarded.dashboardUrl}/favicon.ico`)).status).toBe(200);
    } finally {
      await guarded.stop();
    }
  });

  it('dashboard - a malformed request costs that request, never the daemon; a rebound host name is refused', async () => {
    const { port } = new URL(daemon.dashboardUrl as string);
    const raw = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(Number(port), '127.0.0.1', () => sock.end(text));
        let got = '';
        sock.on('data', (d: Buffer) => (got += d.toString()));
        sock.on('close', () => resolve(got));
        sock.on('error', reject);
      });
    // An absolute-form request line that is not a URL, and a path that is not percent-encoding: both once threw in the handler.
    expect(await raw('GET http://[/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 (400|200)/);
    expect((await fetch(`${daemon.dashboardUrl}/api/classes/%E0`)).status).toBe(400);
    // DNS rebinding: a page under another name that resolves to 127.0.0.1 gets nothing (no token is set here).
    expect(await raw('GET /api/classes HTTP/1.1\r\nHost: rebound.example:8787\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 403/);
    expect(await raw('GET /api/classes HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200/);
    // Still serving.
    expect((await fetch(`${daemon.dashboardUrl}/api/classes`)).status).toBe(200);
  });

  it('dashboard - a class state without groups, or with nonsense ones, shows one grid', async () => {
    const kv = await openClassStateKv(client, topology(config.namespace), 1);
    const now = new Date().toISOString();
    const state = (classId: string, groups?: unknown) => JSON.stringify({
      v: 1, classId, runId: '9-legacy', status: 'transferring', total: 5, playlists: 1, done: '03', failed: '', doneCount: 2, failedCount: 0,
      bytes: 2, retries: 0, failures: {}, refused: [], skipped: [], live: 'ended', notes: [], startedAt: now, updatedAt: now, reported: false, ...(groups ? { groups } : {}),
    });
    await kv.put(runStateKey('legacy', '9-legacy'), state('legacy'));
    await kv.put(runStateKey('bogus', '9-legacy'), state('bogus', [{ name: 'a', from: 0, count: 4 }, { name: 'b', from: 2, count: 1e9 }]));
    // A gap would hide files 2 from the grid.
    await kv.put(runStateKey('gappy', '9-legacy'), state('gappy', [{ name: 'a', from: 0, count: 2 }, { name: 'b', from: 3, count: 2 }]));
    for (const id of ['legacy', 'bogus', 'gappy']) {
      const drawn = await waitFor(`${id} drawn`, async () => {
        const c = await cells(id);
        return c.length === 5 ? c : undefined;
      });
      expect(drawn.map((c) => c.title.replace(/^file #\d+ · /, ''))).toEqual(['done', 'done', 'pending', 'pending', 'pending']);
      expect((await row(id))?.labels).toEqual([]);
    }
  });
});
