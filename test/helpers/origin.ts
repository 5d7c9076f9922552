/**
 * A real HTTP origin for tests: serves a map of paths, records every request,
 * and can inject faults per path (status codes for the first N requests).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A fault for one path: answer `status` to its first `times` requests. */
export interface Fault {
  readonly status: number;
  times: number;
}

/** A running origin. */
export interface Origin {
  readonly url: string;
  readonly requests: string[];
  /** When each request arrived (ms since epoch), aligned with `requests`. */
  readonly requestTimes: number[];
  readonly files: Map<string, Buffer>;
  readonly faults: Map<string, Fault>;
  /** Path → milliseconds to wait before answering. */
  readonly delays: Map<string, number>;
  /** Path → Location to answer 302 with. */
  readonly redirects: Map<string, string>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts an origin serving `files` (path → body) at 127.0.0.1 on a free port. */
export async function startOrigin(files: Record<string, string | Buffer> = {}): Promise<Origin> {
  const map = new Map(Object.entries(files).map(([k, v]) => [k, Buffer.isBuffer(v) ? v : Buffer.from(v)]));
  const requests: string[] = [];
  const requestTimes: number[] = [];
  const faults = new Map<string, Fault>();
  const delays = new Map<string, number>();
  const redirects = new Map<string, string>();
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    requestTimes.push(Date.now());
    const path = decodeURIComponent(url.pathname);
    const delay = delays.get(path);
    if (delay) await new Promise((r) => setTimeout(r, delay));
    const location = redirects.get(path);
    if (location) {
      res.writeHead(302, { location }).end();
      return;
    }
    const fault = faults.get(path);
    if (fault && fault.times > 0) {
      fault.times--;
      res.writeHead(fault.status).end('injected fault');
      return;
    }
    const body = map.get(path);
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    // Like most CDNs, a strong ETag (here the content MD5) identifies the version.
    res.writeHead(200, {
      'content-length': body.length,
      'content-type': 'application/octet-stream',
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url: `http://127.0.0.1:${port}`, requests, requestTimes, files: map, faults, delays, redirects, close, [Symbol.asyncDispose]: close };
}
