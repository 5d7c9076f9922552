// Test-only Lambda handler module for the local endpoint's `handlerModule`
// option: the real transfer handler, except for waves with a job whose key
// names a fault. Loaded by the endpoint's worker threads, so it is plain
// JavaScript importing the compiled handler.
import { EventEmitter } from 'node:events';
import { handler as transfer } from '../../dist/lambda/transfer-handler.js';

const never = () => new Promise(() => undefined);

export const handler = async (event, context) => {
  const keys = event.jobs.map((job) => job.key).join('\n');
  if (keys.includes('fault-exit')) {
    // The runtime dies mid-invocation, as a native crash or process.exit() would.
    setTimeout(() => process.exit(1), 200);
    return never();
  }
  if (keys.includes('fault-hang')) return never();
  if (keys.includes('fault-stray')) {
    // Errors that belong to no awaited promise: a socket's late throw, a
    // forgotten rejection, a stream 'error' nobody listens to, one of them
    // after the invocation has answered.
    setTimeout(() => {
      throw new Error('stray exception from a timer');
    }, 10);
    void Promise.reject(new Error('stray rejection'));
    setTimeout(() => new EventEmitter().emit('error', new Error('stray stream error')), 20);
    const out = await transfer(event, context);
    setTimeout(() => new EventEmitter().emit('error', new Error('stream error after the invocation answered')), 5);
    return out;
  }
  return transfer(event, context);
};
