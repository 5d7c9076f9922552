/**
 * When FLANTS_LAMBDA=local and no endpoint is given, the daemon serves the
 * transfer handler itself on a loopback port, so `npx flants daemon` works
 * with nothing else running.
 */
import type { Logger } from 'pino';
import type { FlantsConfig } from '../config/load-config.js';
import { startLocalLambda, type LocalLambda } from '../lambda/local-endpoint.js';

/** Returns `config` pointed at a Lambda endpoint, starting a local one when needed. */
export async function withLocalLambda(
  config: FlantsConfig,
  logger: Logger,
): Promise<{ config: FlantsConfig; local?: LocalLambda }> {
  if (config.lambda.functionName !== 'local' || config.lambda.endpoint) return { config };
  const local = await startLocalLambda({
    concurrency: config.lambda.localConcurrency,
    timeoutMs: config.lambda.localTimeoutMs,
    logger,
  });
  logger.info({ url: local.url, concurrency: config.lambda.localConcurrency }, 'local Lambda endpoint started');
  return { config: { ...config, lambda: { ...config.lambda, endpoint: local.url } }, local };
}
