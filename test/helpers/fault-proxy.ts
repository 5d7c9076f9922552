/**
 * A fault-injecting HTTP proxy for tests: put it in front of an origin or an
 * s3rver endpoint, and it drops chosen requests the way real networks do
 * (a reset before answering, a body cut off mid-way, an upload whose socket
 * closes). Everything else passes through unchanged, Host header included,
 * so that signatures still match.
 */
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * `reset`: close the socket before answering. `reset-mid-body`: answer the
 * upstream's headers and the first chunk of its body, then close the socket.
 * `drop-upload`: read part of the request body, then close the socket.
 * `flip-byte`: answer in full, with the first byte of the body inverted
 * (length and headers, ETag included, unchanged). `stall-answer`: pass the
 * request on (the upstream acts on it) and never answer, as a write that times
 * out after it landed.
 */
export type ProxyFault = 'reset' | 'reset-mid-body' | 'drop-upload' | 'flip-byte' | 'stall-answer';

/** A running proxy. */
export interface FaultProxy {
  readonly url: string;
  /** Faults injected so far. */
  readonly injected: string[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a proxy to `upstream` that injects `faultFor(req)` on a free loopback port. */
export async function startFaultProxy(upstream: string, faultFor: (req: IncomingMessage) => ProxyFault | undefined): Promise<FaultProxy> {
  const injected: string[] = [];
  const server = createServer((req, res) => {
    const fault = faultFor(req);
    if (fault) injected.push(`${fault} ${req.method} ${req.url}`);
    if (fault === 'reset') return void req.socket.destroy();
    if (fault === 'drop-upload') {
      req.once('data', () => req.socket.destroy());
      req.once('end', () => req.socket.destroy());
      return;
    }
    const up = request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      if (fault === 'stall-answer') return void answer.resume();
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (fault === 'flip-byte') {
        let first = true;
        answer.on('data', (chunk: Buffer) => {
          if (first && chunk.length) chunk = Buffer.concat([Buffer.from([(chunk[0] as number) ^ 0xff]), chunk.subarray(1)]);
          first = false;
          res.write(chunk);
        });
        return void answer.once('end', () => res.end());
      }
      if (fault !== 'reset-mid-body') return void answer.pipe(res);
      answer.once('data', (chunk: Buffer) => {
        res.write(chunk.subarray(0, Math.max(1, chunk.length >> 1)));
        setImmediate(() => res.socket?.destroy());
        answer.destroy();
      });
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { url: `http://127.0.0.1:${port}`, injected, close, [Symbol.asyncDispose]: close };
}
