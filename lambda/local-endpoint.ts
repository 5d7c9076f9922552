/**
 * A Lambda-API-compatible HTTP endpoint that runs the transfer handler in a
 * pool of worker threads. It serves `POST /2015-03-31/functions/{name}/invocations`
 * and, like AWS, answers 429 TooManyRequestsException past its concurrency limit,
 * so that the dispatcher talks to it through the real @aws-sdk/client-lambda.
 *
 * Each worker runs one invocation at a time, as an AWS execution environment
 * does: a worker that dies, or overruns the timeout, fails only its own
 * invocation. The pool keeps `workers` threads warm and grows to `concurrency`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { distFile } from '../config/dist-path.js';
import type { InvokeOutcome, InvokeTask, WorkerMessage } from './invoke-worker.js';
import { parseWaveRequest } from './wave-request.js';

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
  /**
   * Worker threads kept warm (started at once and reused); defaults to the
   * number of cores. The pool grows past it up to `concurrency`, one
   * invocation per worker, and idle extra workers end after a minute.
   */
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
  /**
   * Invocations in flight now, and the most seen at once; worker threads alive
   * now, and how many were replaced after a crash, a stray error or a timeout.
   */
  stats(): { inFlight: number; peak: number; invocations: number; throttled: number; busyMs: number; workers: number; recycled: number };
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Lambda's synchronous invocation limit, for the request and for the response. */
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

/** The body, or undefined past `limit`. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    // The rest is read and dropped: a connection closed mid-upload reaches the
    // client as a write error instead of the 413 (the SDK even throws that
    // error out of its own event handler).
    if (total <= limit) chunks.push(chunk as Buffer);
  }
  return total > limit ? undefined : Buffer.concat(chunks);
}

/**
 * Benchmark modes: results without I/O, at once or after simulated per-file
 * latency. A malformed payload is refused as the real handler refuses it.
 */
async function simulated(payload: string, mode: 'noop' | { readonly simulateMs: readonly [number, number] }): Promise<InvokeOutcome> {
  let req: ReturnType<typeof parseWaveRequest>;
  try {
    req = parseWaveRequest(JSON.parse(payload));
  } catch (err) {
    const e = err as Error;
    return e instanceof SyntaxError ? { id: 0, notJson: e.message } : { id: 0, error: { errorType: e.name, errorMessage: e.message } };
  }
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

/** Idle workers beyond the warm pool are ended after this long, as AWS reclaims idle environments. */
const IDLE_RETIRE_MS = 60_000;

/** One worker thread; it runs at most one invocation at a time. */
interface PoolWorker {
  readonly worker: Worker;
  running?: { readonly id: number; finish(out: InvokeOutcome): void };
  /** It survived a stray error: retire it once its invocation is over. */
  tainted: boolean;
  /** Being ended on purpose, so its exit fails nothing. */
  retiring: boolean;
  idleTimer?: NodeJS.Timeout;
}

/** Starts the endpoint on `port` (0 for a free one). */
export async function startLocalLambda(o: LocalLambdaOptions): Promise<LocalLambda> {
  const handlerMode = !o.mode || o.mode === 'handler';
  const warm = Math.min(o.concurrency, Math.max(1, o.workers ?? availableParallelism()));
  const workerFile = fileURLToPath(distFile(import.meta.url, 'invoke-worker.js'));
  const all = new Set<PoolWorker>();
  const idle: PoolWorker[] = [];
  let closing = false;
  let recycled = 0;

  const spawn = (): PoolWorker => {
    const worker = new Worker(workerFile, { env: o.env ?? process.env, workerData: { handlerModule: o.handlerModule } });
    worker.unref();
    const w: PoolWorker = { worker, tainted: false, retiring: false };
    all.add(w);
    worker.on('message', (msg: WorkerMessage) => {
      if ('kind' in msg) {
        w.tainted = true;
        const err = Object.assign(new Error(msg.message), { name: msg.name, stack: msg.stack });
        o.logger?.warn({ err, invocation: msg.id, source: msg.source }, 'local lambda worker survived a stray error; replacing it after its invocation');
        if (!w.running) replace(w);
        return;
      }
      if (w.running?.id !== msg.id) return;
      const { finish } = w.running;
      w.running = undefined;
      finish(msg);
      release(w);
    });
    worker.on('error', (err) => o.logger?.error({ err }, 'local lambda worker crashed'));
    // Like AWS, a runtime that dies takes only its own invocation with it: a
    // function error (Runtime.ExitError).
    worker.on('exit', (code) => {
      all.delete(w);
      removeIdle(w);
      const running = w.running;
      w.running = undefined;
      if (!w.retiring) recycled++;
      running?.finish({
        id: running.id,
        error: { errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${running.id} Error: Runtime exited with error: exit status ${code}` },
      });
      // No replacement here: a worker that cannot start would be respawned in
      // a loop. The next invocation starts one if the pool is empty.
    });
    return w;
  };
  const removeIdle = (w: PoolWorker) => {
    clearTimeout(w.idleTimer);
    const i = idle.indexOf(w);
    if (i >= 0) idle.splice(i, 1);
  };
  const retire = (w: PoolWorker) => {
    if (w.retiring) return;
    w.retiring = true;
    all.delete(w);
    removeIdle(w);
    void w.worker.terminate();
    topUp();
  };
  // The warm pool is refilled in the background, so a replaced worker's start
  // (about 200 ms, mostly module loading) is not paid by the next invocation.
  const topUp = () => {
    while (handlerMode && !closing && all.size < warm) idle.push(spawn());
  };
  const acquire = (): PoolWorker => {
    const w = idle.pop() ?? spawn();
    clearTimeout(w.idleTimer);
    return w;
  };
  // A worker that survived a stray error, or overran its timeout, may hold
  // broken state (a leaked socket, a handler still running): it is not reused.
  const replace = (w: PoolWorker) => {
    if (w.retiring) return;
    recycled++;
    retire(w);
  };
  const release = (w: PoolWorker) => {
    if (closing) return retire(w);
    if (w.tainted) return replace(w);
    idle.push(w);
    if (all.size > warm) w.idleTimer = setTimeout(() => retire(w), IDLE_RETIRE_MS).unref();
  };
  topUp();

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

  const invoke = (payload: string): Promise<InvokeOutcome> =>
    new Promise((resolve) => {
      const id = nextId++;
      if (closing) return resolve({ id, error: { errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${id} Error: the endpoint is closing` } });
      const w = acquire();
      // Like AWS, the deadline ends the invocation whatever the handler does,
      // and the environment is not reused.
      const timer = setTimeout(() => {
        if (w.running?.id !== id) return;
        w.running = undefined;
        replace(w);
        resolve({ id, error: { errorType: 'Sandbox.Timedout', errorMessage: `RequestId: ${id} Error: Task timed out after ${(o.timeoutMs / 1000).toFixed(2)} seconds` } });
      }, o.timeoutMs);
      w.running = {
        id,
        finish: (out) => {
          clearTimeout(timer);
          resolve(out);
        },
      };
      w.worker.postMessage({ id, payload, deadline: Date.now() + o.timeoutMs } satisfies InvokeTask);
    });

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
        if (out.notJson !== undefined) return sendError(res, 400, 'InvalidRequestContentException', `Could not parse request body into json: ${out.notJson}`);
        const size = Buffer.byteLength(out.payload ?? '');
        const error =
          out.error ??
          (size > MAX_SYNC_PAYLOAD
            ? { errorType: 'Function.ResponseSizeTooLarge', errorMessage: `Response payload size (${size} bytes) exceeded maximum allowed payload size (${MAX_SYNC_PAYLOAD} bytes).` }
            : undefined);
        if (error) return sendJson(res, 200, error, { 'x-amz-function-error': 'Unhandled', 'x-amz-executed-version': '$LATEST' });
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
    const workers = [...all];
    for (const w of workers) {
      w.retiring = true;
      clearTimeout(w.idleTimer);
    }
    await Promise.all(workers.map((w) => w.worker.terminate()));
  };
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}`,
    port,
    stats: () => {
      setInFlight(inFlight);
      return { inFlight, peak, invocations, throttled, busyMs, workers: all.size, recycled };
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
