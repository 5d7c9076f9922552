/**
 * A Lambda-API-compatible HTTP endpoint that runs the transfer handler in a
 * pool of worker threads. It serves `POST /2015-03-31/functions/{name}/invocations`
 * and, like AWS, answers 429 TooManyRequestsException past its concurrency limit,
 * so that the dispatcher talks to it through the real @aws-sdk/client-lambda.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { distFile } from '../local/dist-path.js';
import type { InvokeOutcome, InvokeTask } from './invoke-worker.js';

/** Options for the local endpoint. */
export interface LocalLambdaOptions {
  readonly port?: number;
  readonly host?: string;
  /** Function names served; any other gets 404 ResourceNotFoundException. Empty serves any name. */
  readonly functionNames?: readonly string[];
  /** Invocations run at once; more are refused with 429, as a reserved-concurrency limit would. */
  readonly concurrency: number;
  /** Per-invocation time budget, like a function timeout. */
  readonly timeoutMs: number;
  /** Worker threads; defaults to the number of cores. */
  readonly workers?: number;
  /**
   * Benchmarks only: `noop` answers success for every job without any I/O;
   * `simulate` answers after a random per-file latency, with the wave's file concurrency.
   */
  readonly mode?: 'handler' | 'noop' | { readonly simulateMs: readonly [number, number] };
  /** A module exporting `handler` (e.g. the unzipped deployment bundle) to run instead of this build's handler. */
  readonly handlerModule?: string;
  /** Environment the handler sees (source credentials, for instance). Defaults to this process's. */
  readonly env?: Record<string, string | undefined>;
  readonly logger?: Logger;
}

/** A running endpoint. */
export interface LocalLambda {
  readonly url: string;
  readonly port: number;
  /** Invocations in flight now, and the most seen at once. */
  stats(): { inFlight: number; peak: number; invocations: number; throttled: number; busyMs: number };
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const MAX_SYNC_PAYLOAD = 6 * 1024 * 1024;
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;


function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  sendJson(res, status, { Type: 'User', message }, { 'x-amzn-errortype': type });
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Benchmark modes: results without I/O, at once or after simulated per-file latency. */
async function simulated(payload: string, mode: 'noop' | { readonly simulateMs: readonly [number, number] }): Promise<InvokeOutcome> {
  const req = JSON.parse(payload) as { jobs: unknown[]; options?: { fileConcurrency?: number } };
  const n = req.jobs.length;
  if (mode !== 'noop') {
    const [min, max] = mode.simulateMs;
    let next = 0;
    const lanes = Math.max(1, Math.min(req.options?.fileConcurrency ?? 16, n));
    await Promise.all(
      Array.from({ length: lanes }, async () => {
        while (next++ < n) await new Promise((r) => setTimeout(r, min + Math.random() * (max - min)));
      }),
    );
  }
  return { id: 0, payload: JSON.stringify({ results: Array.from({ length: n }, () => ({ ok: true, bytes: 0, ms: 0 })) }) };
}

/** Starts the endpoint on `port` (0 for a free one). */
export async function startLocalLambda(o: LocalLambdaOptions): Promise<LocalLambda> {
  const size = Math.max(1, o.workers ?? availableParallelism());
  interface Slot {
    worker: Worker;
    load: number;
  }
  const waiting = new Map<number, { resolve: (out: InvokeOutcome) => void; slot: Slot }>();
  let closing = false;
  // A worker that dies takes its invocations with it: like AWS, they end in a
  // function error (Runtime.ExitError), and a fresh worker takes its place.
  const spawnWorker = (slot: Slot) => {
    const worker = new Worker(fileURLToPath(distFile(import.meta.url, 'invoke-worker.js')), {
      env: o.env ?? process.env,
      workerData: { handlerModule: o.handlerModule },
    });
    worker.unref();
    slot.worker = worker;
    slot.load = 0;
    worker.on('message', (out: InvokeOutcome) => {
      const w = waiting.get(out.id);
      if (!w) return;
      waiting.delete(out.id);
      w.slot.load--;
      w.resolve(out);
    });
    worker.on('error', (err) => o.logger?.error({ err }, 'local lambda worker crashed'));
    worker.on('exit', (code) => {
      for (const [id, w] of waiting) {
        if (w.slot !== slot) continue;
        waiting.delete(id);
        w.resolve({ id, error: { errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${id} Error: Runtime exited with error: exit status ${code}` } });
      }
      if (!closing && slot.worker === worker) spawnWorker(slot);
    });
  };
  const pool: Slot[] = Array.from({ length: size }, () => {
    const slot = { load: 0 } as Slot;
    spawnWorker(slot);
    return slot;
  });
  let nextId = 1;
  let inFlight = 0;
  // The integral of in-flight invocations over time: its slope is the average concurrency.
  let busyMs = 0;
  let lastChange = Date.now();
  const setInFlight = (n: number) => {
    const now = Date.now();
    busyMs += inFlight * (now - lastChange);
    lastChange = now;
    inFlight = n;
  };
  let peak = 0;
  let invocations = 0;
  let throttled = 0;

  const invoke = (payload: string): Promise<InvokeOutcome> => {
    const slot = pool.reduce((a, b) => (b.load < a.load ? b : a));
    slot.load++;
    const task: InvokeTask = { id: nextId++, payload, deadline: Date.now() + o.timeoutMs };
    return new Promise((resolve) => {
      waiting.set(task.id, { resolve, slot });
      slot.worker.postMessage(task);
    });
  };

  const server = createServer((req, res) => {
    void (async () => {
      const m = INVOKE_PATH.exec(req.url?.split('?')[0] ?? '');
      if (req.method !== 'POST' || !m) return sendError(res, 404, 'ResourceNotFoundException', 'Unknown path');
      const name = decodeURIComponent(m[1] ?? '');
      if (o.functionNames?.length && !o.functionNames.includes(name)) {
        return sendError(res, 404, 'ResourceNotFoundException', `Function not found: ${name}`);
      }
      if (inFlight >= o.concurrency) {
        throttled++;
        req.resume();
        return sendError(res, 429, 'TooManyRequestsException', 'Rate Exceeded.');
      }
      setInFlight(inFlight + 1);
      peak = Math.max(peak, inFlight);
      invocations++;
      try {
        const body = await readBody(req, MAX_SYNC_PAYLOAD);
        if (!body) return sendError(res, 413, 'RequestTooLargeException', 'Request must be smaller than 6291456 bytes');
        const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
        if (type === 'DryRun') {
          res.writeHead(204).end();
          return;
        }
        const outcome = o.mode && o.mode !== 'handler' ? simulated(body.toString('utf8'), o.mode) : invoke(body.toString('utf8') || '{}');
        if (type === 'Event') {
          res.writeHead(202).end();
          await outcome;
          return;
        }
        const out = await outcome;
        if (out.error) return sendJson(res, 200, out.error, { 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' });
        res.writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' });
        res.end(out.payload);
      } finally {
        setInFlight(inFlight - 1);
      }
    })().catch((err) => {
      o.logger?.error({ err }, 'local lambda request failed');
      if (!res.headersSent) sendError(res, 500, 'ServiceException', 'internal error');
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = async () => {
    closing = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.all(pool.map((s) => s.worker.terminate()));
  };
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}`,
    port,
    stats: () => {
      setInFlight(inFlight);
      return { inFlight, peak, invocations, throttled, busyMs };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
