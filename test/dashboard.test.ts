/**
 * The live dashboard in a real browser (playwright-core driving Debian's
 * chromium) against a daemon that is transferring a library: classes appear,
 * bits flip from ◯ to ◉, a failed file shows its reason, a finished class
 * collapses, and a class id made of HTML is shown as text. Each test saves a
 * screenshot under test/artifacts/.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { jetstream } from '@nats-io/jetstream';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { auditsBucket } from '../audit/run-audit.js';
import { startDaemon, type Daemon } from '../cli/daemon.js';
import type { FlantsConfig } from '../config/load-config.js';
import type { LocalLambda } from '../lambda/local-endpoint.js';
import type { NatsServer } from '../dev/local/nats-server.js';
import type { S3Server } from '../dev/local/s3-server.js';
import { topology } from '../streams/topology.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { natsClient, startLambda, startNats, startS3, testConfig, testLogger } from './helpers/services.js';

const ARTIFACTS = 'test/artifacts';
const XSS_ID = '<img src=x onerror="window.__xss=1">';
const media = (names: string[], end = true) => ['#EXTM3U', '#EXT-X-TARGETDURATION:2', ...names.flatMap((n) => ['#EXTINF:2,', n]), end ? '#EXT-X-ENDLIST' : '', ''].join('\n');

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
    return {
      open: d.open,
      className: d.className,
      id: d.querySelector('.id')?.textContent ?? '',
      bits: d.querySelector('.bits')?.textContent ?? '',
      failures: [...d.querySelectorAll('.failures li')].map((li) => li.textContent ?? ''),
    };
  }, id);

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
    const slow = Array.from({ length: 40 }, (_, i) => `s${i}.ts`);
    files['/vod/alpha/master.m3u8'] = media(slow);
    for (const n of slow) files[`/vod/alpha/${n}`] = `alpha ${n}`;
    files['/vod/broken/master.m3u8'] = media(['ok.ts', 'gone.ts']);
    files['/vod/broken/ok.ts'] = 'ok';
    files['/vod/xss/master.m3u8'] = media(['a.ts']);
    files['/vod/xss/a.ts'] = 'a';
    origin = await startOrigin(files);
    for (const n of slow) origin.delays.set(`/vod/alpha/${n}`, 150);
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
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'alpha' }));
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'broken' }));
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: XSS_ID, manifest: 'xss/master.m3u8' }));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await daemon?.stop();
    await client?.close();
    await Promise.all([lambda?.close(), dst?.close(), nats?.close(), origin?.close()]);
  });

  it('dashboard - each class appears', async () => {
    for (const id of ['alpha', 'broken', XSS_ID]) await waitFor(`row ${id}`, () => row(id));
    expect(await page.locator('details.cls').count()).toBe(3);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-classes.png`, fullPage: true });
  });

  it('dashboard - bits flip from ◯ to ◉ as files land', async () => {
    const partial = await waitFor('a half-done alpha', async () => {
      const r = await row('alpha');
      return r && r.bits.length === 41 && r.bits.includes('◉') && /[◯◐]/.test(r.bits) ? r : undefined;
    });
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-progress.png`, fullPage: true });
    const done = await waitFor('alpha done', async () => {
      const r = await row('alpha');
      return r && r.bits === '◉'.repeat(41) ? r : undefined;
    });
    expect(partial.bits.split('◉').length - 1).toBeLessThan(done.bits.length);
  });

  it('dashboard - a failed file shows its reason, and its class stands out', async () => {
    const r = await waitFor('broken failed', async () => {
      const x = await row('broken');
      return x && x.className.includes('st-failed') && x.failures.length > 0 ? x : undefined;
    });
    expect(r.failures.join('\n')).toMatch(/broken\/gone.ts \(failed\): attempt 1: .*HTTP 404/);
    expect(r.bits).toContain('✖');
    expect(r.open).toBe(true);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-failed.png`, fullPage: true });
  });

  it('dashboard - a finished class collapses', async () => {
    const r = await waitFor('alpha collapsed', async () => {
      const x = await row('alpha');
      return x && x.className.includes('st-complete') && !x.open ? x : undefined;
    });
    expect(r.open).toBe(false);
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-collapsed.png`, fullPage: true });
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
    expect(all.classes.map((c) => c.classId).sort()).toEqual(['alpha', 'broken', XSS_ID].sort());
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
    expect(snap.classes.map((c) => c.classId).sort()).toEqual(['alpha', 'broken', XSS_ID].sort());
    expect(Object.keys(snap.queues).sort()).toEqual(['aggregator', 'crawler', 'crawler-bulk', 'dispatcher', 'dispatcher-bulk', 'scanner']);
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
    } finally {
      await guarded.stop();
    }
  });
});
