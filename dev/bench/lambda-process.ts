/**
 * The local Lambda endpoint in a process of its own, for benchmarks: its CPU
 * is then read from /proc apart from the benchmark's, and `--cpu-prof` can
 * profile it (worker threads included). Options come as JSON in argv[2];
 * the parent talks over IPC: it receives `{ url }` once listening, sends
 * `stats` for the endpoint's counters, and SIGTERM ends it cleanly (so a
 * profile is written).
 */
import { startLocalLambda, type LocalLambdaOptions } from '../../lambda/local-endpoint.js';

const options = JSON.parse(process.argv[2] ?? '{}') as LocalLambdaOptions;
const lambda = await startLocalLambda(options);
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ stats: lambda.stats() });
});
process.once('SIGTERM', () => {
  void lambda.close().finally(() => process.exit(0));
});
process.send?.({ url: lambda.url });
