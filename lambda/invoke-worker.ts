/**
 * Runs transfer-handler invocations inside a worker thread for the local
 * Lambda endpoint, so that copies use every core. Many invocations share one
 * worker: they are I/O bound and interleave on its event loop.
 */
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '../storage/errors.js';
import { handleWave, type InvocationContext } from './transfer-handler.js';
import type { WaveRequest, WaveResponse } from './wave.js';

type Handler = (event: WaveRequest, context: InvocationContext) => Promise<WaveResponse>;

// With a handler module (the deployable bundle), the worker runs exactly that
// artifact; otherwise the handler from this build.
const handlerModule = (workerData as { handlerModule?: string } | undefined)?.handlerModule;
const handler: Promise<Handler> = handlerModule
  ? import(pathToFileURL(handlerModule).href).then((m: { handler: Handler }) => m.handler)
  : Promise.resolve(handleWave);

/** Parent → worker. */
export interface InvokeTask {
  readonly id: number;
  readonly payload: string;
  /** Epoch ms at which the invocation's time budget ends. */
  readonly deadline: number;
}

/** Worker → parent: either a JSON payload or a function error. */
export interface InvokeOutcome {
  readonly id: number;
  readonly payload?: string;
  readonly error?: { errorType: string; errorMessage: string };
}

parentPort?.on('message', (task: InvokeTask) => {
  void (async () => {
    try {
      const req = JSON.parse(task.payload) as WaveRequest;
      const res = await (await handler)(req, { getRemainingTimeInMillis: () => task.deadline - Date.now() });
      parentPort?.postMessage({ id: task.id, payload: JSON.stringify(res) } satisfies InvokeOutcome);
    } catch (err) {
      parentPort?.postMessage({
        id: task.id,
        error: { errorType: (err as Error)?.name ?? 'Error', errorMessage: describeError(err) },
      } satisfies InvokeOutcome);
    }
  })();
});
