/**
 * What the dashboard says about the deployment it watches, from the
 * configuration: where files come from and go to (never credentials, never a
 * URL's query or user part), the namespace, and how to read a class run's
 * report back from the destination.
 */
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { FlantsConfig } from '../config/load-config.js';
import { endpointShown, redactUri } from '../storage/source-root.js';
import { reportKeyFor } from '../tracking/class-report.js';

/** The header's facts about this deployment, already safe to show. */
export interface RunContext {
  readonly source: string;
  readonly destination: string;
  readonly namespace: string;
}

/** Reads class run reports; closed with the dashboard that was given it. */
export interface ReportReader {
  /** A report's body, or undefined when there is none at the destination. */
  read(classId: string, runId: string): Promise<{ body: Readable; length?: number } | undefined>;
  close(): void;
}

const at = (endpoint: string | undefined) => (endpoint ? ` at ${endpointShown(endpoint)}` : '');

/** The run context of `config`. */
export function runContextOf(config: FlantsConfig): RunContext {
  const source =
    config.source.kind === 's3' ? `s3://${config.source.bucket}/${config.source.prefix}${at(config.sourceS3.endpoint)}` : redactUri(config.source.root);
  return {
    source,
    destination: `s3://${config.dest.bucket}/${config.dest.prefix}${at(config.destS3.endpoint)}`,
    namespace: config.namespace,
  };
}

/**
 * Reads reports from the destination with the configured client. The key is
 * the aggregator's own (reportKeyFor), built from a class id and run id the
 * caller has validated, so only report objects can be read through it.
 */
export function destinationReports(config: FlantsConfig, client?: S3Client): ReportReader {
  // Made on the first report asked for: most dashboards never open one.
  let s3 = client;
  const own = !client;
  return {
    read: async (classId, runId) => {
      const sdk = await import('@aws-sdk/client-s3');
      s3 ??= (await import('../storage/s3-client.js')).makeS3Client({ ...config.destS3, maxSockets: 4 });
      const Key = reportKeyFor(config.dest.prefix, config.reportPrefix, classId, runId);
      try {
        const out = await s3.send(new sdk.GetObjectCommand({ Bucket: config.dest.bucket, Key }));
        return { body: out.Body as Readable, length: out.ContentLength };
      } catch (err) {
        if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
        throw err;
      }
    },
    close: () => {
      if (own) s3?.destroy();
    },
  };
}
