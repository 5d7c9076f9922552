/**
 * An HTTP origin that injects faults, for the chaos suite and the soak run:
 * 5xx answers, connections reset mid-body, stalls, and bodies cut short. Each
 * file suffers at most `maxFaultsPerFile` faults, so that the outcome is
 * deterministic: every file must still arrive, through retries.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { prng } from './prng.js';

/** The kinds of fault, with their probability per request. */
export interface FaultRates {
  readonly status5xx: number;
  readonly reset: number;
  readonly stall: number;
  readonly truncate: number;
}

/** Options for the origin. */
export interface FaultOriginOptions {
  readonly files: ReadonlyMap<string, Buffer>;
  readonly rates: FaultRates;
  readonly maxFaultsPerFile: number;
  readonly seed?: number;
  /** Milliseconds before each segment answer starts, as a distant origin would take (0 by default). */
  readonly latencyMs?: number;
}

/** A running origin and what it did. */
export interface FaultOrigin {
  readonly url: string;
  readonly injected: Record<keyof FaultRates, number>;
  requests(): number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts the origin on a free loopback port. */
export async function startFaultOrigin(o: FaultOriginOptions): Promise<FaultOrigin> {
  const rnd = prng(o.seed ?? 7);
  const faultsPerFile = new Map<string, number>();
  const injected = { status5xx: 0, reset: 0, stall: 0, truncate: 0 };
  let requests = 0;
  const kinds = Object.keys(o.rates) as Array<keyof FaultRates>;

  const pickFault = (path: string): keyof FaultRates | undefined => {
    if ((faultsPerFile.get(path) ?? 0) >= o.maxFaultsPerFile) return undefined;
    let r = rnd();
    for (const k of kinds) {
      if (r < o.rates[k]) {
        faultsPerFile.set(path, (faultsPerFile.get(path) ?? 0) + 1);
        injected[k]++;
        return k;
      }
      r -= o.rates[k];
    }
    return undefined;
  };

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    if (o.latencyMs && !req.url?.endsWith('.m3u8')) await new Promise((r) => setTimeout(r, o.latencyMs));
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://o').pathname);
    const body = o.files.get(path);
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    // Playlists are left alone: the chaos is about the copy path.
    const fault = path.endsWith('.m3u8') || req.method === 'HEAD' ? undefined : pickFault(path);
    if (fault === 'status5xx') {
      res.writeHead(503, { 'retry-after': '1' }).end('injected 503');
      return;
    }
    res.writeHead(200, { 'content-length': body.length, etag: `"${body.length}-${path.length}"` });
    if (req.method === 'HEAD') return res.end();
    if (!fault) return res.end(body);
    const half = body.subarray(0, Math.floor(body.length / 2));
    res.write(half);
    if (fault === 'reset') setImmediate(() => res.socket?.destroy());
    else if (fault === 'truncate') setImmediate(() => res.socket?.end());
    // 'stall': send nothing more; the copier's stall timeout must cut it.
    else req.socket.setTimeout(60_000, () => req.socket.destroy());
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url: `http://127.0.0.1:${port}`, injected, requests: () => requests, close, [Symbol.asyncDispose]: close };
}
