/**
 * Transfers a library of 5,000+ files through the real pipeline, then audits
 * it (plain and --deep) and prints the audit rates.
 */
import { objectIo } from '../../storage/object-http.js';
import { connect } from '@nats-io/transport-node';
import { pino } from 'pino';
import { runAudit } from '../../audit/run-audit.js';
import { startDaemon } from '../../cli/daemon.js';
import { loadConfig } from '../../config/load-config.js';
import { makeLambdaClient } from '../../lambda/invoke-wave.js';
import { startLocalLambda } from '../../lambda/local-endpoint.js';
import { startNatsServer } from '../local/nats-server.js';
import { S3RVER_CREDENTIALS, startS3Server } from '../local/s3-server.js';
import { writeSyntheticLibrary } from '../local/synthetic-library.js';
import { makeS3Client } from '../../storage/s3-client.js';
import { makeSourceReader } from '../../storage/source-reader.js';
import { SourceRoot } from '../../storage/source-root.js';
import type { ClassTransferred } from '../../streams/messages.js';
import { topology } from '../../streams/topology.js';

process.env.AWS_ACCESS_KEY_ID ??= S3RVER_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY ??= S3RVER_CREDENTIALS.secretAccessKey;

/** Runs the audit benchmark; returns its figures. */
export async function auditBenchmark(classes = 10, segments = 250) {
  const [nats, src, dst] = await Promise.all([startNatsServer(), startS3Server(['bench-src']), startS3Server(['bench-dst'])]);
  const lambda = await startLocalLambda({ concurrency: 32, timeoutMs: 120_000 });
  const nc = await connect({ servers: nats.url });
  try {
    const s3src = makeS3Client({ endpoint: src.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS });
    const lib = await writeSyntheticLibrary(s3src, 'bench-src', 'lib/', { classes, renditions: 2, segments, minBytes: 1_000, maxBytes: 8_000 }, 32);
    const config = loadConfig({
      NATS_URL: nats.url,
      FLANTS_SOURCE: 's3://bench-src/lib/',
      FLANTS_SOURCE_ENDPOINT: src.endpoint,
      FLANTS_DEST: 's3://bench-dst/',
      FLANTS_DEST_ENDPOINT: dst.endpoint,
      FLANTS_LAMBDA_ENDPOINT: lambda.url,
    });
    const daemon = await startDaemon({ config, logger: pino({ level: 'warn' }) });
    const t = topology(config.namespace);
    const sub = nc.subscribe(t.subjects.transferred);
    const js = (await import('@nats-io/jetstream')).jetstream(nc);
    for (const id of lib.classIds) await js.publish(t.subjects.recorded, id);
    let n = 0;
    for await (const m of sub) {
      if (m.json<ClassTransferred>().status !== 'complete') throw new Error('transfer failed');
      if (++n === lib.classIds.length) break;
    }
    await daemon.stop();
    const root = new SourceRoot(config.source);
    const deps = {
      config,
      nc,
      root,
      reader: makeSourceReader(root, objectIo(s3src)),
      dest: makeS3Client(config.destS3),
      lambda: makeLambdaClient({ functionName: 'local', endpoint: lambda.url, region: 'us-east-1', local: true }),
      logger: pino({ level: 'warn' }),
    };
    const plain = await runAudit(deps, { deep: false, repair: false });
    const deep = await runAudit(deps, { deep: true, repair: false });
    return { files: plain.totals.files, drift: plain.totals.drift + deep.totals.drift, plain: plain.totals.filesPerSecond, deep: deep.totals.filesPerSecond };
  } finally {
    await nc.close();
    await lambda.close();
    await Promise.all([src.close(), dst.close(), nats.close()]);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await auditBenchmark();
  console.log(`audit: ${r.files} files, ${r.drift} drift; ${r.plain} files/s plain, ${r.deep} files/s deep`);
}
