/**
 * The `flants` command line. The one place that handles signals: SIGTERM and
 * SIGINT drain in-flight work, a second signal exits at once.
 */
import { Command, InvalidArgumentError } from 'commander';

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

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Builds the program; `run` parses argv and executes. */
export function buildProgram(): Command {
  const program = new Command('flants')
    .description('Move whole HLS video libraries to S3 on NATS JetStream and AWS Lambda, tracking every file.')
    .showHelpAfterError();

  program
    .command('daemon')
    .description('run actors on durable JetStream consumers until SIGTERM (configuration from FLANTS_* variables)')
    .option('--actors <list>', 'comma-separated subset of scanner,crawler,dispatcher,aggregator', 'all')
    .action(async (opts: { actors: string }) => {
      const [{ parseActors, startDaemon }, { loadConfig }, { createLogger }, { withLocalLambda }] = await Promise.all([
        import('./daemon.js'),
        import('../config/load-config.js'),
        import('./logger.js'),
        import('./local-lambda-for.js'),
      ]);
      const actors = parseActors(opts.actors);
      const base = loadConfig();
      const logger = createLogger(base.logLevel);
      const { config, local } = actors.includes('dispatcher') ? await withLocalLambda(base, logger) : { config: base, local: undefined };
      const daemon = await startDaemon({ config, logger, actors, warnUnboundedHeap: true });
      onShutdown(async () => {
        await daemon.stop();
        await local?.close();
      });
    });

  program
    .command('setup')
    .description('create every stream, consumer and KV bucket, or change their settings to this configuration (the only command that does)')
    .action(async () => {
      const [{ jetstreamManager }, { loadConfig }, { connectNats }, { ensureTopology, openClassStateKv, openPartsKv, topologyOptions }, { topology }] = await Promise.all([
        import('@nats-io/jetstream'),
        import('../config/load-config.js'),
        import('../streams/connect-nats.js'),
        import('../streams/ensure-topology.js'),
        import('../streams/topology.js'),
      ]);
      const config = loadConfig();
      const nc = await connectNats(config.nats, 'flants-setup');
      try {
        const t = topology(config.namespace);
        await ensureTopology(await jetstreamManager(nc), t, topologyOptions(config), undefined, true);
        await openClassStateKv(nc, t, config.streamReplicas);
        await openPartsKv(nc, t, config.streamReplicas);
        process.stdout.write(`streams ${Object.values(t.streams).join(', ')} and KV ${t.kv.classes}, ${t.kv.parts} are ready\n`);
      } finally {
        await nc.close();
      }
    });

  program
    .command('trigger')
    .description('announce a recorded class on class.recorded, as `nats pub class.recorded <id>` would')
    .argument('<classId>', 'the class to transfer')
    .option('--manifest <path>', 'entry playlist relative to FLANTS_SOURCE (default from FLANTS_MANIFEST_TEMPLATE)')
    .action(async (classId: string, opts: { manifest?: string }) => {
      const [{ jetstream, jetstreamManager }, { connectNats, natsSettings }, { classRecordedSchema }, { topology }] = await Promise.all([
        import('@nats-io/jetstream'),
        import('../streams/connect-nats.js'),
        import('../streams/messages.js'),
        import('../streams/topology.js'),
      ]);
      const payload = classRecordedSchema.safeParse({ classId, manifest: opts.manifest });
      if (!payload.success) throw new InvalidArgumentError(payload.error.issues.map((i) => i.message).join('; '));
      const nc = await connectNats(natsSettings(), 'flants-trigger');
      try {
        const t = topology(process.env.FLANTS_NAMESPACE ?? '');
        // Without a stream yet (no daemon has started), the trigger would be lost: say so.
        const jsm = await jetstreamManager(nc);
        await jsm.streams.info(t.streams.classes).catch(() => {
          throw new InvalidArgumentError(`stream ${t.streams.classes} does not exist yet: start \`flants daemon\` (or \`flants scan\`) once first`);
        });
        const ack = await jetstream(nc).publish(t.subjects.recorded, JSON.stringify(payload.data));
        process.stdout.write(`queued ${classId} on ${t.subjects.recorded} (stream ${ack.stream}, seq ${ack.seq})\n`);
      } finally {
        await nc.close();
      }
    });

  program
    .command('demo')
    .description('transfer a small synthetic library between two local S3 endpoints and print the results')
    .option('--classes <n>', 'classes to generate', positiveInt, 4)
    .option('--renditions <n>', 'renditions per class', positiveInt, 3)
    .option('--segments <n>', 'segments per rendition', positiveInt, 30)
    .action(async (opts: { classes: number; renditions: number; segments: number }) => {
      const [{ createLogger }, { runDemo }] = await Promise.all([import('./logger.js'), import('./demo.js')]);
      const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
      const code = await runDemo({ ...opts, natsUrl: process.env.NATS_URL || 'nats://127.0.0.1:4222', out: process.stdout, logger });
      process.exit(code);
    });

  program
    .command('status')
    .description('print every class with a progress bar, the queues and running audits')
    .option('--json', 'print JSON for scripts', false)
    .action(async (opts: { json: boolean }) => {
      const [{ connectNats, natsSettings }, { formatSnapshot, readSnapshot }, { topology }] = await Promise.all([
        import('../streams/connect-nats.js'),
        import('../dashboard/snapshot.js'),
        import('../streams/topology.js'),
      ]);
      const namespace = process.env.FLANTS_NAMESPACE ?? '';
      const nc = await connectNats(natsSettings(), 'flants-status');
      try {
        const snap = await readSnapshot(nc, topology(namespace), namespace);
        process.stdout.write(`${opts.json ? JSON.stringify(snap, null, 2) : formatSnapshot(snap)}\n`);
      } finally {
        await nc.close();
      }
    });

  program
    .command('scan')
    .description('one discovery pass (MongoDB catalogue, else the source listing or index file); queue what is new')
    .option('--since <date>', 'catalogue: only classes recorded after this (default: the stored watermark)')
    .option('--full', 'catalogue: ignore the stored watermark', false)
    .option('--dry-run', 'print what would be queued, queue nothing', false)
    .option('--force', 'queue classes that are already complete and unchanged', false)
    .option('--quiet', 'print only the summary', false)
    .action(async (opts: { since?: string; full: boolean; dryRun: boolean; force: boolean; quiet: boolean }) => {
      const since = opts.since ? new Date(opts.since) : undefined;
      if (since && Number.isNaN(since.getTime())) throw new InvalidArgumentError(`--since is not a date: ${opts.since}`);
      const [{ loadConfig }, { runScanCommand }] = await Promise.all([import('../config/load-config.js'), import('./scan-command.js')]);
      process.exit(await runScanCommand(loadConfig(), { since, full: opts.full, dryRun: opts.dryRun, force: opts.force, quiet: opts.quiet }));
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
      const code = await runAuditCommand(base, logger, { since, fromSeq: opts.fromSeq, classes: opts.class, deep: opts.deep, repair: opts.repair }, opts.json);
      process.exit(code);
    });

  program
    .command('lambda-local')
    .description('serve the transfer handler on the Lambda Invoke API (for split deployments and tests)')
    .option('--port <n>', 'port to listen on', positiveInt, 9001)
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--concurrency <n>', 'invocations at once before answering 429', positiveInt, 32)
    .option('--noop', 'benchmarks: answer success for every job without I/O', false)
    .option('--simulate <min-max>', 'benchmarks: answer after a random per-file latency in ms, e.g. 50-500')
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

/** Errors whose message tells the user what to do: printed without a stack. */
async function isUsageError(err: unknown): Promise<boolean> {
  if (err instanceof InvalidArgumentError) return true;
  if (!(err instanceof Error)) return false;
  // Imported only once something failed, so that no command loads these modules for this check alone.
  const [{ ConfigError }, { NatsSettingsError }, { TopologyMismatchError }] = await Promise.all([
    import('../config/load-config.js'),
    import('../streams/connect-nats.js'),
    import('../streams/ensure-topology.js'),
  ]);
  return err instanceof ConfigError || err instanceof NatsSettingsError || err instanceof TopologyMismatchError;
}

/** Runs the CLI; configuration errors print their message, not a stack. */
export async function run(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (await isUsageError(err)) {
      process.stderr.write(`flants: ${(err as Error).message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
