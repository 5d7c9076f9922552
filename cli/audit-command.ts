/** Wires `flants audit` to its parts and turns the report into an exit code, like `rclone check`. */
import { EXIT, connectOrExplain } from './failures.js';
import type { Logger } from 'pino';
import { runAudit, formatAudit, type AuditOptions } from '../audit/run-audit.js';
import type { FlantsConfig } from '../config/load-config.js';
import { makeLambdaClient } from '../lambda/invoke-wave.js';
import { makeS3Client } from '../storage/s3-client.js';
import { openSource } from '../storage/open-source.js';
import { withLocalLambda } from './local-lambda-for.js';

/** Exit codes: 0 no drift, 1 drift found (see the report; fixed with --repair) or classes could not be audited. */
export async function runAuditCommand(base: FlantsConfig, logger: Logger, o: AuditOptions, json: boolean): Promise<number> {
  const { config, local } = o.deep ? await withLocalLambda(base, logger) : { config: base, local: undefined };
  const nc = await connectOrExplain(config.nats, 'flants-audit');
  try {
    const { root, reader } = await openSource(config);
    const report = await runAudit(
      {
        config,
        nc,
        root,
        reader,
        dest: makeS3Client(config.destS3),
        lambda: o.deep
          ? makeLambdaClient({ functionName: config.lambda.functionName, endpoint: config.lambda.endpoint, region: config.lambda.region, local: config.lambda.functionName === 'local' })
          : undefined,
        logger,
      },
      o,
    );
    process.stdout.write(`${json ? JSON.stringify(report, null, 2) : formatAudit(report)}\n`);
    return report.totals.drift > 0 || report.totals.errors > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    await nc.close();
    await local?.close();
  }
}
