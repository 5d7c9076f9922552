/**
 * Runs transfer-handler invocations inside a worker thread for the local
 * Lambda endpoint. Like an AWS execution environment, a worker runs one
 * invocation at a time, so that whatever ends a worker ends only that
 * invocation. An error that belongs to no awaited promise (an unhandled
 * rejection, an 'error' event nobody listens to, a socket's late throw) is
 * reported and survived: the invocation goes on, and the endpoint retires the
 * worker once it is over.
 */
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../storage/errors.js';
import { handler as transferHandler, type InvocationContext } from './transfer-handler.js';
import type { WaveResponse } from './wave.js';

type Handler = (event: unknown, context: InvocationContext) => Promise<WaveResponse>;

/** Parent → worker. */
export interface InvokeTask {
  readonly id: number;
  readonly payload: string;
  /** Epoch ms at which the invocation's time budget ends. */
  readonly deadline: number;
}

/** Worker → parent: a JSON payload, a function error, or a body that is not JSON at all. */
export interface InvokeOutcome {
  readonly id: number;
  readonly payload?: string;
  readonly error?: { errorType: string; errorMessage: string };
  /** Why the body is not JSON: AWS refuses such a request (400) before any function runs. */
  readonly notJson?: string;
}

/** Worker → parent: an error outside any invocation's promises, survived. */
export interface StrayError {
  readonly kind: 'stray';
  /** The invocation running when it surfaced (not necessarily its cause). */
  readonly id?: number;
  readonly source: 'uncaughtException' | 'unhandledRejection';
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}

/** Everything a worker posts to the endpoint. */
export type WorkerMessage = InvokeOutcome | StrayError;

let current: number | undefined;

// Node ends a thread on either of these by default: in this endpoint that
// cost every job of the invocation, and, when invocations shared workers,
// every job of theirs too.
const survive = (source: StrayError['source']) => (err: unknown) => {
  const e = err instanceof Error ? err : undefined;
  parentPort?.postMessage({
    kind: 'stray',
    id: current,
    source,
    name: e?.name ?? typeof err,
    message: describeError(err),
    stack: e?.stack,
  } satisfies StrayError);
};
process.on('uncaughtException', survive('uncaughtException'));
process.on('unhandledRejection', survive('unhandledRejection'));

// With a handler module (the deployable bundle), the worker runs exactly that
// artifact; otherwise this build's entry point, the one AWS calls (it checks the payload).
const handlerModule = (workerData as { handlerModule?: string } | undefined)?.handlerModule;
const handler: Promise<Handler> = handlerModule
  ? import(pathToFileURL(handlerModule).href).then((m: { handler: Handler }) => m.handler)
  : Promise.resolve(transferHandler);
// A module that fails to load fails each invocation, not the worker.
handler.catch(() => undefined);

parentPort?.on('message', (task: InvokeTask) => {
  current = task.id;
  void (async () => {
    let outcome: InvokeOutcome;
    let req: unknown;
    try {
      req = JSON.parse(task.payload);
    } catch (err) {
      current = undefined;
      parentPort?.postMessage({ id: task.id, notJson: describeError(err) } satisfies InvokeOutcome);
      return;
    }
    try {
      const res = await (await handler)(req, { getRemainingTimeInMillis: () => task.deadline - Date.now() });
      outcome = { id: task.id, payload: JSON.stringify(res) ?? 'null' };
    } catch (err) {
      outcome = { id: task.id, error: { errorType: (err as Error)?.name ?? 'Error', errorMessage: describeError(err) } };
    }
    current = undefined;
    parentPort?.postMessage(outcome);
  })();
});
