/** Wires `flants scan` to its parts. */
import { connectOrExplain } from './failures.js';
import { MongoClient } from 'mongodb';
import type { FlantsConfig } from '../config/load-config.js';
import { runScan, type ScanOptions } from '../discovery/run-scan.js';
import { makeS3Client } from '../storage/s3-client.js';
import { openSource } from '../storage/open-source.js';
import { labelS3Failures } from './s3-failure-labels.js';

/** Runs one scan pass, printing each class and a summary; returns the exit code. */
export async function runScanCommand(config: FlantsConfig, o: ScanOptions & { quiet: boolean }): Promise<number> {
  const nc = await connectOrExplain(config.nats, 'flants-scan');
  const mongo = config.catalogue ? new MongoClient(config.catalogue.url, { appName: 'flants-scan' }) : undefined;
  try {
    await mongo?.connect();
    const { root, reader, s3: sourceS3 } = await openSource(config);
    const summary = await runScan(
      {
        config,
        nc,
        root,
        reader,
        sourceS3: sourceS3 && labelS3Failures(sourceS3, 'source', config.sourceS3.endpoint),
        dest: labelS3Failures(makeS3Client(config.destS3), 'destination', config.destS3.endpoint),
        mongo,
        print: o.quiet ? undefined : (line) => process.stdout.write(`${line}\n`),
      },
      o,
    );
    const why = Object.entries(summary.reasons).map(([k, v]) => `${v} ${k}`).join(', ');
    process.stdout.write(
      `${o.dryRun ? 'dry run: ' : ''}${summary.seen} classes seen in the ${summary.origin}, ${summary.queued} ${o.dryRun ? 'would be ' : ''}queued, ` +
        `${summary.skipped} skipped${why ? ` (${why})` : ''} in ${summary.seconds.toFixed(1)} s` +
        `${summary.watermark ? `; watermark ${summary.watermark}` : ''}\n`,
    );
    return 0;
  } finally {
    await mongo?.close();
    await nc.close();
  }
}
