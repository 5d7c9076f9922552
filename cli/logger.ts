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

/**
 * Creates the root logger at `level`: JSON lines to `destination` (stdout by
 * default), pretty-printed when stdout is a terminal and FLANTS_LOG_FORMAT is
 * not `json`.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (destination) return pino(options, destination as unknown as pino.DestinationStream);
  if (process.stdout.isTTY && process.env.FLANTS_LOG_FORMAT !== 'json') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  }
  return pino(options);
}
