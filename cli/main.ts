/**
 * The `flants` command line. The one place that handles signals: SIGTERM and
 * SIGINT drain in-flight work, a second signal exits at once.
 */
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { parseDuration } from '../config/durations.js';

// Each command imports its implementation inside its action: `flants daemon` must not pay for the
// demo's local servers, the audit or MongoDB (a static import here loads them into every actor).

function onShutdown(stop: () => Promise<void>): void {
  let signalled = false;
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) process.exit(130);
    signalled = true;
    process.stderr.write(`\n${signal}: draining in-flight work (send again to exit at once)\n`);
    stop().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`shutdown failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

/**
 * For commands that must undo what they set up before exiting (the demo): an
 * abort signal for SIGINT, SIGTERM and SIGHUP (a closed terminal). A second
 * signal exits at once.
 */
function interruptOnSignals(): AbortSignal {
  const interrupt = new AbortController();
  const handler = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) process.exit(128 + constants.signals[signal]);
    process.stderr.write(`\n${signal}: cleaning up (send again to exit at once)\n`);
    interrupt.abort(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, handler);
  return interrupt.signal;
}

/** The version in package.json, found from this file in the source tree or under dist/. */
function version(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'flants' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}

/** The `--help` epilogue: examples, then the variables the command reads. */
function helpText(examples: readonly string[], env: readonly string[]): string {
  return `\nExamples:\n${examples.map((e) => `  $ ${e}`).join('\n')}\n\nEnvironment:\n${env.map((e) => `  ${e}`).join('\n')}\n`;
}

const NATS_ENV = [
  'NATS_URL            NATS servers (default nats://127.0.0.1:4222)',
  'NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY_SEED, NATS_TLS_CA/CERT/KEY',
  'FLANTS_NAMESPACE    prefix of every subject, stream and bucket (default empty)',
];
const CONFIG_ENV = ['FLANTS_CONFIG_FILE  a KEY=value file with any of these (the environment wins)', 'LOG_LEVEL           debug also prints stack traces'];
const STORAGE_ENV = [
  'FLANTS_SOURCE       s3://bucket/prefix or https://origin/prefix (required)',
  'FLANTS_DEST         s3://bucket/prefix (required)',
  'FLANTS_SOURCE_ENDPOINT, FLANTS_DEST_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE',
];
const LAMBDA_ENV = ['FLANTS_LAMBDA        function name, or local (default)', 'FLANTS_LAMBDA_ENDPOINT'];
const EXIT_HELP = '\nExit codes: 0 success, 1 failed/drift, 2 usage or configuration, 3 cannot connect or timed out, 4 internal error.\n';

function duration(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    throw new InvalidArgumentError(`it ${(err as Error).message}`);
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Builds the program; `run` parses argv and executes. */
export function buildProgram(): Command {
  const program = new Command('flants')
    .description('Move whole HLS video libraries to S3 on NATS JetStream and AWS Lambda, tracking every file.')
    .version(version(), '-V, --version', 'print the flants version')
    // Usage errors exit 2 in one line, like every other failure; settings are inherited by each command below.
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(`flants: ${text.trim().replace(/^error: /, '')} (see flants ${'--help'})\n`),
    })
    .addHelpText('after', helpText(
      ['flants doctor', 'flants daemon', 'flants trigger lecture-42 --wait', 'flants status --failed', 'FLANTS_CONFIG_FILE=/etc/flants.env flants audit'],
      [...CONFIG_ENV, ...NATS_ENV, ...STORAGE_ENV, ...LAMBDA_ENV, 'Every setting: the configuration table in the README.'],
    ) + EXIT_HELP);

  program
    .command('daemon')
    .description('run actors on durable JetStream consumers until SIGTERM (configuration from FLANTS_* variables)')
    .option('--actors <list>', 'comma-separated subset of scanner,crawler,dispatcher,aggregator', 'all')
    .addHelpText('after', helpText(
      ['flants daemon', 'flants daemon --actors dispatcher', 'FLANTS_CONFIG_FILE=/etc/flants.env flants daemon'],
      [...CONFIG_ENV, ...NATS_ENV, ...STORAGE_ENV, ...LAMBDA_ENV, 'FLANTS_DASHBOARD_PORT, FLANTS_METRICS_PORT, FLANTS_BATCH_SIZE, FLANTS_ACK_WAIT, ... (README)'],
    ) + EXIT_HELP)
    .action(async (opts: { actors: string }) => {
      const [{ parseActors, startDaemonRetrying }, { loadConfig }, { createLogger }, { withLocalLambda }] = await Promise.all([
        import('./daemon.js'),
        import('../config/load-config.js'),
        import('./logger.js'),
        import('./local-lambda-for.js'),
      ]);
      let actors: ReturnType<typeof parseActors>;
      try {
        actors = parseActors(opts.actors);
      } catch (err) {
        throw new InvalidArgumentError(`--actors: ${(err as Error).message}`);
      }
      const base = loadConfig();
      const logger = createLogger(base.logLevel);
      const { config, local } = actors.includes('dispatcher') ? await withLocalLambda(base, logger) : { config: base, local: undefined };
      const daemon = await startDaemonRetrying({ config, logger, actors, warnUnboundedHeap: true }).catch(async (err: unknown) => {
        await local?.close();
        throw err;
      });
      onShutdown(async () => {
        await daemon.stop();
        await local?.close();
      });
    });

  program
    .command('setup')
    .description('create every stream, consumer and KV bucket, or change their settings to this configuration (the only command that does)')
    .addHelpText('after', helpText(['flants setup', 'FLANTS_ACK_WAIT=2m flants setup'], [...CONFIG_ENV, ...NATS_ENV, 'FLANTS_ACK_WAIT, FLANTS_MAX_ATTEMPTS, FLANTS_STREAM_REPLICAS, FLANTS_STATE_REPLICAS, FLANTS_RECORDED_MAX_AGE']) + EXIT_HELP)
    .action(async () => {
      const [{ jetstreamManager }, { loadConfig }, { connectOrExplain }, { ensureTopology, openClassStateKv, openFleetKv, openPartsKv, topologyOptions }, { topology }] = await Promise.all([
        import('@nats-io/jetstream'),
        import('../config/load-config.js'),
        import('./failures.js'),
        import('../streams/ensure-topology.js'),
        import('../streams/topology.js'),
      ]);
      const config = loadConfig();
      const nc = await connectOrExplain(config.nats, 'flants-setup');
      try {
        const t = topology(config.namespace);
        const { assertStateReplicasSafe, setBucketReplicas } = await import('../streams/state-replicas.js');
        assertStateReplicasSafe(nc.info?.version, config.stateReplicas);
        const jsm = await jetstreamManager(nc);
        await ensureTopology(jsm, t, topologyOptions(config), undefined, true);
        await openClassStateKv(nc, t, config.stateReplicas);
        await openPartsKv(nc, t, config.stateReplicas);
        await openFleetKv(nc, t, config.streamReplicas);
        // Opening a bucket keeps the replicas it was made with: the owner changes them.
        for (const [bucket, replicas] of [[t.kv.classes, config.stateReplicas], [t.kv.parts, config.stateReplicas], [t.kv.fleet, config.streamReplicas]] as const) {
          const had = await setBucketReplicas(jsm, bucket, replicas);
          if (had !== undefined && had !== replicas) process.stdout.write(`KV ${bucket}: ${had} → ${replicas} replicas\n`);
        }
        process.stdout.write(`streams ${Object.values(t.streams).join(', ')} and KV ${t.kv.classes}, ${t.kv.parts}, ${t.kv.fleet} are ready\n`);
      } finally {
        await nc.close();
      }
    });

  program
    .command('trigger')
    .description('announce a recorded class on class.recorded, as `nats pub class.recorded <id>` would; --wait follows it to its outcome')
    .argument('<classId>', 'the class to transfer')
    .option('--manifest <path>', 'entry playlist relative to FLANTS_SOURCE (default from FLANTS_MANIFEST_TEMPLATE)')
    .option('--wait', 'wait for this run\'s outcome and exit with it: 0 complete, 1 failed or incomplete, 3 timed out', false)
    .option('--timeout <duration>', 'with --wait: give up after this long, e.g. 30m (default: wait as long as it takes)', duration)
    .option('--json', 'with --wait: print the outcome event as JSON', false)
    .addHelpText('after', helpText(
      ['flants trigger lecture-42', 'flants trigger lecture-42 --wait --timeout 30m', 'flants trigger lecture-42 --manifest lecture-42/hls/index.m3u8 --wait --json | jq .status'],
      [...CONFIG_ENV, ...NATS_ENV],
    ) + EXIT_HELP)
    .action(async (classId: string, opts: { manifest?: string; wait: boolean; timeout?: number; json: boolean }) => {
      if ((opts.timeout !== undefined || opts.json) && !opts.wait) throw new InvalidArgumentError('--timeout and --json go with --wait');
      const [{ loadConnectionConfig }, { runTriggerCommand }] = await Promise.all([import('../config/load-config.js'), import('./trigger-command.js')]);
      const code = await runTriggerCommand(
        loadConnectionConfig(),
        { classId, manifest: opts.manifest, wait: opts.wait, timeoutMs: opts.timeout, json: opts.json },
        { out: process.stdout, progress: process.stderr },
      );
      await exitAfterOutput(code);
    });

  program
    .command('demo')
    .description('transfer a small synthetic library between two local S3 endpoints and print the results')
    .option('--classes <n>', 'classes to generate', positiveInt, 4)
    .option('--renditions <n>', 'renditions per class', positiveInt, 3)
    .option('--segments <n>', 'segments per rendition', positiveInt, 30)
    .addHelpText('after', helpText(['flants demo', 'flants demo --classes 20 --segments 100'], ['NATS_URL            a running nats-server to use (default: start a private one)', 'LOG_LEVEL']))
    .action(async (opts: { classes: number; renditions: number; segments: number }) => {
      const [{ createLogger }, { runDemo }] = await Promise.all([import('./logger.js'), import('./demo.js')]);
      // Logs go to stderr: stdout carries the demo's results, and may be a pipe that closes (`| head`).
      const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', process.stderr);
      const signal = interruptOnSignals();
      // A closed terminal (SIGHUP) fails every later write to it: the clean-up must not die of one (stdout's are the demo's to see).
      process.stderr.on('error', () => undefined);
      const code = await runDemo({ ...opts, natsUrl: process.env.NATS_URL || 'nats://127.0.0.1:4222', out: process.stdout, notices: process.stderr, logger, signal });
      await exitAfterOutput(code);
    });

  program
    .command('status')
    .description('print every class with a progress bar, the queues and running audits (exit 1 when a shown class failed)')
    .option('--class <id...>', 'only these classes (their latest run)')
    .option('--failed', 'only classes whose latest run failed or is incomplete', false)
    .option('--watch [interval]', 'redraw every interval (default 2s) until Ctrl-C', false)
    .option('--json', 'print JSON for scripts', false)
    .addHelpText('after', helpText(
      ['flants status', 'flants status --failed', 'flants status --class lecture-42 --watch', 'flants status --json | jq \'.classes[] | select(.status=="failed") | .classId\''],
      [...CONFIG_ENV, ...NATS_ENV],
    ) + EXIT_HELP)
    .action(async (opts: { class?: string[]; failed: boolean; watch: boolean | string; json: boolean }) => {
      const watchMs = opts.watch === false ? undefined : opts.watch === true ? 2_000 : duration(opts.watch);
      if (watchMs !== undefined && watchMs <= 0) throw new InvalidArgumentError('--watch takes an interval above 0, e.g. 5s');
      const [{ loadConnectionConfig }, { runStatusCommand }] = await Promise.all([import('../config/load-config.js'), import('./status-command.js')]);
      const stop = new Promise<void>((resolve) => {
        if (watchMs === undefined) return;
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await exitAfterOutput(await runStatusCommand(loadConnectionConfig(), { classes: opts.class, failed: opts.failed, json: opts.json, watchMs }, { out: process.stdout, stop }));
    });

  program
    .command('doctor')
    .description('check NATS, JetStream, the streams and consumers, source read, destination write and delete, and the Lambda; print a table')
    .option('--json', 'print the checks as JSON', false)
    .addHelpText('after', helpText(['flants doctor', 'FLANTS_CONFIG_FILE=/etc/flants.env flants doctor --json'], [...CONFIG_ENV, ...NATS_ENV, ...STORAGE_ENV, ...LAMBDA_ENV, 'FLANTS_ACK_WAIT, FLANTS_MAX_ATTEMPTS (compared with the consumers on the server)']) + EXIT_HELP)
    .action(async (opts: { json: boolean }) => {
      const [{ loadConfig }, { runDoctorCommand }] = await Promise.all([import('../config/load-config.js'), import('./doctor.js')]);
      await exitAfterOutput(await runDoctorCommand(loadConfig(), opts.json, process.stdout));
    });

  program
    .command('scan')
    .description('one discovery pass (MongoDB catalogue, else the source listing or index file); queue what is new')
    .option('--since <date>', 'catalogue: only classes recorded after this (default: the stored watermark)')
    .option('--full', 'catalogue: ignore the stored watermark', false)
    .option('--dry-run', 'print what would be queued, queue nothing', false)
    .option('--force', 'queue classes that are already complete and unchanged', false)
    .option('--quiet', 'print only the summary', false)
    .addHelpText('after', helpText(
      ['flants scan --dry-run', 'flants scan --since 2024-09-01', 'MONGODB_URL=mongodb://db/lectures flants scan --full --quiet'],
      [...CONFIG_ENV, ...NATS_ENV, ...STORAGE_ENV, 'MONGODB_URL, FLANTS_MONGO_* (the catalogue), FLANTS_DISCOVER_PATTERN, FLANTS_DISCOVER_INDEX'],
    ) + EXIT_HELP)
    .action(async (opts: { since?: string; full: boolean; dryRun: boolean; force: boolean; quiet: boolean }) => {
      const since = opts.since ? new Date(opts.since) : undefined;
      if (since && Number.isNaN(since.getTime())) throw new InvalidArgumentError(`--since is not a date: ${opts.since}`);
      const [{ loadConfig }, { runScanCommand }] = await Promise.all([import('../config/load-config.js'), import('./scan-command.js')]);
      await exitAfterOutput(await runScanCommand(loadConfig(), { since, full: opts.full, dryRun: opts.dryRun, force: opts.force, quiet: opts.quiet }));
    });

  program
    .command('audit')
    .description('replay class.recorded and compare every file at the destination with the source (exit 1 on drift)')
    .option('--since <date>', 'replay triggers recorded since this time (ISO 8601)')
    .option('--from-seq <n>', 'replay triggers from this stream sequence', positiveInt)
    .option('--class <id...>', 'audit only these classes')
    .option('--deep', 'hash full contents on both sides, inside the Lambda', false)
    .option('--repair', 're-queue missing and drifted files (extra objects are reported, never deleted)', false)
    .option('--json', 'print the JSON report instead of the summary', false)
    .addHelpText('after', helpText(
      ['flants audit', 'flants audit --class lecture-42 --deep', 'flants audit --since 2024-09-01 --repair'],
      [...CONFIG_ENV, ...NATS_ENV, ...STORAGE_ENV, ...LAMBDA_ENV],
    ) + EXIT_HELP)
    .action(async (opts: { since?: string; fromSeq?: number; class?: string[]; deep: boolean; repair: boolean; json: boolean }) => {
      const since = opts.since ? new Date(opts.since) : undefined;
      if (since && Number.isNaN(since.getTime())) throw new InvalidArgumentError(`--since is not a date: ${opts.since}`);
      if (since && opts.fromSeq) throw new InvalidArgumentError('use --since or --from-seq, not both');
      const [{ loadConfig }, { createLogger }, { runAuditCommand }] = await Promise.all([
        import('../config/load-config.js'),
        import('./logger.js'),
        import('./audit-command.js'),
      ]);
      const base = loadConfig();
      const logger = createLogger(base.logLevel === 'info' ? 'warn' : base.logLevel, process.stderr);
      await exitAfterOutput(await runAuditCommand(base, logger, { since, fromSeq: opts.fromSeq, classes: opts.class, deep: opts.deep, repair: opts.repair }, opts.json));
    });

  program
    .command('lambda-local')
    .description('serve the transfer handler on the Lambda Invoke API (for split deployments and tests)')
    .option('--port <n>', 'port to listen on', positiveInt, 9001)
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--concurrency <n>', 'invocations at once before answering 429', positiveInt, 32)
    .option('--noop', 'benchmarks: answer success for every job without I/O', false)
    .option('--simulate <min-max>', 'benchmarks: answer after a random per-file latency in ms, e.g. 50-500')
    .addHelpText('after', helpText(['flants lambda-local --port 9001', 'FLANTS_LAMBDA_ENDPOINT=http://127.0.0.1:9001 flants daemon --actors dispatcher'], ['LOG_LEVEL']))
    .action(async (opts: { port: number; host: string; concurrency: number; noop: boolean; simulate?: string }) => {
      const [{ createLogger }, { startLocalLambda }] = await Promise.all([import('./logger.js'), import('../lambda/local-endpoint.js')]);
      const logger = createLogger(process.env.LOG_LEVEL ?? 'info');
      const sim = opts.simulate ? /^(\d+)-(\d+)$/.exec(opts.simulate) : undefined;
      if (opts.simulate && !sim) throw new InvalidArgumentError('--simulate takes min-max milliseconds, e.g. 50-500');
      const mode = opts.noop ? 'noop' as const : sim ? { simulateMs: [Number(sim[1]), Number(sim[2])] as const } : 'handler' as const;
      const local = await startLocalLambda({ port: opts.port, host: opts.host, concurrency: opts.concurrency, timeoutMs: 300_000, logger, mode });
      logger.info({ url: local.url }, 'local Lambda endpoint listening');
      onShutdown(() => local.close());
    });

  return program;
}

/** Prints a failure as one line on stderr (and its stack at LOG_LEVEL=debug or trace); returns the exit code. */
async function report(err: unknown): Promise<number> {
  const { describeFailure } = await import('./failures.js');
  const { line, exitCode } = await describeFailure(err);
  process.stderr.write(`flants: ${line}\n`);
  if (/^(debug|trace)$/.test(process.env.LOG_LEVEL ?? '') && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return exitCode;
}

/**
 * Exits once everything written to stdout has left: a pipe is written
 * asynchronously, and process.exit() straight after a large write cut
 * `flants status --json | jq` off at 64 KiB.
 */
async function exitAfterOutput(code: number): Promise<never> {
  // A reader that went away (`| head`) leaves nothing to wait for.
  if (!process.stdout.destroyed && process.stdout.writable) {
    await new Promise<void>((resolve) => {
      // A terminal that hung up fails this write too (EIO): nothing is left to flush then.
      process.stdout.once('error', () => resolve());
      process.stdout.write('', () => resolve());
    });
  }
  process.exit(code);
}

/**
 * Runs the CLI. The config file loads into the environment before anything
 * reads it (every command, and the AWS SDK); every failure ends in one line
 * and a documented exit code (README, Exit codes).
 */
export async function run(argv: string[]): Promise<void> {
  try {
    const { applyConfigFile, unknownVariableWarnings } = await import('../config/load-config.js');
    applyConfigFile();
    for (const w of unknownVariableWarnings()) process.stderr.write(`flants: warning: ${w}\n`);
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError && ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)) process.exit(0);
    // Commander has printed its own one line already; an InvalidArgumentError from an action has not.
    if (err instanceof CommanderError && !(err instanceof InvalidArgumentError)) process.exit(2);
    if (err instanceof InvalidArgumentError) {
      process.stderr.write(`flants: ${err.message} (see flants <command> --help)\n`);
      process.exit(2);
    }
    process.exit(await report(err));
  }
}
