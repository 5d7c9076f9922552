/** The one root logger. Secrets and signed-URL tokens are redacted wherever they appear as fields. */
import { pino, type Logger } from 'pino';

/** Field paths that may carry secrets; their values are replaced before anything is written. */
export const REDACT_PATHS = [
  '*.secretAccessKey',
  '*.sessionToken',
  '*.accessKeyId',
  '*.password',
  '*.token',
  '*.authorization',
  '*.credentials',
  'config.sourceS3.credentials',
  'headers.authorization',
];

/** Creates the root logger at `level`, writing JSON lines to `destination` (stdout by default). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination as unknown as pino.DestinationStream) : pino(options);
}
