/**
 * The dashboard's HTTP server: the page at `/`, live updates over server-sent
 * events at `/events` (only what changed, at most four times a second), the
 * same data as JSON at `/api/classes` and `/api/classes/:id`, and each class's
 * report at `/report/:id`, read from the destination. Binds 127.0.0.1 unless
 * configured otherwise; an optional bearer token guards all of it but the icon.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import type { Logger } from 'pino';
import { classIdSchema } from '../streams/messages.js';
import { FAVICON_SVG } from './favicon.js';
import type { LiveState } from './live-state.js';
import { DASHBOARD_PAGE } from './page.js';
import type { ReportReader, RunContext } from './run-context.js';

/** Dashboard options. */
export interface DashboardOptions {
  readonly port: number;
  readonly host: string;
  readonly token?: string;
  readonly state: LiveState;
  readonly logger: Logger;
  /** Push interval; four pushes a second at most by default. */
  readonly pushMs?: number;
  /** Source, destination and namespace for the header (see run-context.ts); none shown without it. */
  readonly run?: RunContext;
  /** Reads a class run's report (closed with the dashboard); without it `/report/:id` answers 404. */
  readonly reports?: ReportReader;
}

/** A running dashboard. */
export interface Dashboard {
  readonly url: string;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function authorized(req: IncomingMessage, url: URL, token: string | undefined): boolean {
  if (!token) return true;
  const header = req.headers.authorization ?? '';
  const given = header.startsWith('Bearer ') ? header.slice(7) : (url.searchParams.get('token') ?? '');
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Host names that mean this machine. */
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** The host name of a Host header, without its port. */
function hostnameOf(header: string | undefined): string {
  if (!header) return '';
  if (header.startsWith('[')) return header.slice(0, header.indexOf(']') + 1);
  return header.split(':')[0] ?? '';
}

/** A class id from a still percent-encoded path segment, or undefined when it is not valid encoding. */
function decodedId(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

const BAD_ENCODING = { error: 'the class id is not valid percent-encoding' };

/** A run id as runIdFor makes them: it becomes part of an object key, so nothing else is let through. */
const RUN_ID = /^[0-9A-Za-z-]{1,64}$/;

/** Streams the shown run's report of class `raw` (still percent-encoded), or answers why not. */
async function serveReport(res: ServerResponse, raw: string, o: DashboardOptions): Promise<void> {
  const id = decodedId(raw);
  if (id === undefined) return json(res, 400, BAD_ENCODING);
  if (!classIdSchema.safeParse(id).success) return json(res, 400, { error: 'not a class id' });
  const c = o.state.get(id);
  if (!c) return json(res, 404, { error: `no class ${JSON.stringify(id.slice(0, 200))}` });
  if (!c.reported || !RUN_ID.test(c.runId)) return json(res, 404, { error: `class ${JSON.stringify(id.slice(0, 200))} has no report yet (${c.status})` });
  if (!o.reports) return json(res, 404, { error: 'this dashboard was started without access to the destination' });
  let report: Awaited<ReturnType<ReportReader['read']>>;
  try {
    report = await o.reports.read(id, c.runId);
  } catch (err) {
    o.logger.warn({ err, classId: id }, 'report not read');
    return json(res, 502, { error: `the report could not be read from the destination: ${(err as Error)?.name ?? 'error'}` });
  }
  if (!report) return json(res, 404, { error: 'the report is not at the destination (deleted?)' });
  res.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    // A report quotes untrusted text (keys, reasons): shown as data, never run.
    'content-security-policy': "default-src 'none'",
    'x-content-type-options': 'nosniff',
    ...(report.length === undefined ? {} : { 'content-length': report.length }),
  });
  // pipeline, not pipe: a browser that goes away must release the S3 connection too.
  pipeline(report.body, res, (err) => {
    if (err && err.code !== 'ERR_STREAM_PREMATURE_CLOSE') o.logger.warn({ err, classId: id }, 'report read cut short');
  });
}

/** Starts the dashboard. */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const clients = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    // A malformed request line or path must cost that request, never the daemon the dashboard runs in.
    try {
      handle(req, res);
    } catch (err) {
      o.logger.debug({ err }, 'dashboard request refused');
      if (res.headersSent) res.destroy();
      else json(res, 400, { error: 'malformed request' });
    }
  });
  const loopbackOnly = LOOPBACK.has(o.host);
  // What the page loads first and the JSON API serves: one shape for both.
  const snapshot = () => ({ run: o.run, overall: o.state.overall(), classes: o.state.classes() });
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url?.startsWith('/') ? req.url : '/', 'http://dashboard');
    // Without a token, a loopback dashboard answers only requests addressed to loopback: a web page whose
    // name is rebound to 127.0.0.1 (DNS rebinding) would otherwise read the classes and their reports.
    if (!o.token && loopbackOnly && !LOOPBACK.has(hostnameOf(req.headers.host))) return json(res, 403, { error: 'this dashboard answers only to 127.0.0.1 or localhost' });
    // The icon says nothing about the data, and a browser asks for it without the page's token.
    if (req.method === 'GET' && (url.pathname === '/favicon.svg' || url.pathname === '/favicon.ico')) {
      res.writeHead(200, { 'content-type': 'image/svg+xml', 'cache-control': 'max-age=86400', 'x-content-type-options': 'nosniff' });
      res.end(FAVICON_SVG);
      return;
    }
    if (!authorized(req, url, o.token)) return json(res, 401, { error: 'a bearer token is required (Authorization header or ?token=)' });
    if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
    if (url.pathname === '/') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        // Everything the page shows is data, inserted as text: no inline HTML from the server, no third parties.
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        'x-content-type-options': 'nosniff',
      });
      res.end(DASHBOARD_PAGE);
      return;
    }
    if (url.pathname === '/api/classes') return json(res, 200, snapshot());
    if (url.pathname.startsWith('/report/')) {
      return void serveReport(res, url.pathname.slice('/report/'.length), o).catch((err: unknown) => {
        o.logger.warn({ err }, 'report not served');
        if (res.headersSent) res.destroy();
        else json(res, 500, { error: 'the report could not be served' });
      });
    }
    if (url.pathname.startsWith('/api/classes/')) {
      const id = decodedId(url.pathname.slice('/api/classes/'.length));
      if (id === undefined) return json(res, 400, BAD_ENCODING);
      const c = o.state.get(id);
      return c ? json(res, 200, c) : json(res, 404, { error: `no class ${JSON.stringify(id.slice(0, 200))}` });
    }
    if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    return json(res, 404, { error: 'not found' });
  };
  const push = setInterval(() => {
    if (clients.size === 0) {
      o.state.takeChanges();
      return;
    }
    const changes = o.state.takeChanges();
    if (changes.classes.length === 0 && !changes.overall) return;
    const body = {
      overall: changes.overall ? o.state.overall() : undefined,
      classes: changes.classes.map((id) => o.state.get(id)).filter(Boolean),
    };
    const frame = `event: update\ndata: ${JSON.stringify(body)}\n\n`;
    for (const c of clients) c.write(frame);
  }, o.pushMs ?? 250);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  o.logger.info({ url: `http://${host}:${addr.port}/`, auth: o.token ? 'bearer token' : 'none' }, 'dashboard listening');
  const close = async () => {
    clearInterval(push);
    o.reports?.close();
    for (const c of clients) c.end();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url: `http://${host}:${addr.port}`, close, [Symbol.asyncDispose]: close };
}
