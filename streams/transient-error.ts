/**
 * Which NATS failures are passing: a JetStream leader being elected (a node
 * of the cluster died or restarts), a reconnect, a request that timed out.
 * Callers retry these for a bounded time; everything else (a refusal by the
 * stream, a limit reached, a bad configuration) is final at once.
 */

/** True for the failures a leader election or a reconnect produces; a refusal by the stream is not one. */
export function isTransientNatsError(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown; code?: unknown } | undefined;
  const text = `${String(e?.name ?? '')} ${String(e?.message ?? '')} ${String(e?.code ?? '')}`;
  return (
    /no responders|503|timeout|disconnect|reconnect|connection closed|closed connection|jetstream is not enabled|temporarily unavailable|leadership change/i.test(text) &&
    !/maximum|exceeded|refused/i.test(text)
  );
}
