/**
 * The dashboard's HTTP server: the page at `/`, live updates over server-sent
 * events at `/events` (only what changed, at most four times a second), and
 * the same data as JSON at `/api/classes` and `/api/classes/:id`. Binds
 * 127.0.0.1 unless configured otherwise; an optional bearer token guards all of it.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { LiveState } from './live-state.js';
import { DASHBOARD_PAGE } from './page.js';

/** Dashboard options. */
export interface DashboardOptions {
  readonly port: number;
  readonly host: string;
  readonly token?: string;
  readonly state: LiveState;
  readonly logger: Logger;
  /** Push interval; four pushes a second at most by default. */
  readonly pushMs?: number;
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

/** Starts the dashboard. */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const clients = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (!authorized(req, url, o.token)) return json(res, 401, { error: 'a bearer token is required (Authorization header or ?token=)' });
    if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
    if (url.pathname === '/') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        // Everything the page shows is data, inserted as text: no inline HTML from the server, no third parties.
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        'x-content-type-options': 'nosniff',
      });
      return res.end(DASHBOARD_PAGE);
    }
    if (url.pathname === '/api/classes') return json(res, 200, { overall: o.state.overall(), classes: o.state.classes() });
    if (url.pathname.startsWith('/api/classes/')) {
      const id = decodeURIComponent(url.pathname.slice('/api/classes/'.length));
      const c = o.state.get(id);
      return c ? json(res, 200, c) : json(res, 404, { error: `no class ${JSON.stringify(id.slice(0, 200))}` });
    }
    if (url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      res.write(`event: snapshot\ndata: ${JSON.stringify({ overall: o.state.overall(), classes: o.state.classes() })}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    return json(res, 404, { error: 'not found' });
  });
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
    for (const c of clients) c.end();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url: `http://${host}:${addr.port}`, close, [Symbol.asyncDispose]: close };
}
