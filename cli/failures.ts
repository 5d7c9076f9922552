/**
 * How a command ends when something goes wrong: one line, `flants: <problem>
 * (<fix>)`, and an exit code a script can act on (README, Exit codes).
 * Stack traces are printed only at LOG_LEVEL=debug or trace.
 */
import { connectNats, type NatsSettings } from '../streams/connect-nats.js';
import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import { s3FailureLabel } from './s3-failure-labels.js';

/** The documented exit codes, like rclone's. */
export const EXIT = {
  ok: 0,
  /** A class failed or is incomplete, `audit` found drift, `status` shows failures, `doctor` found a problem. */
  failed: 1,
  /** Usage or configuration error: fix the command line or the settings. */
  usage: 2,
  /** Cannot connect to, or is refused by, NATS, S3 or the Lambda, or one of them failed a request (HTTP 5xx); `trigger --wait` timed out. */
  unreachable: 3,
  /** A bug or something unforeseen: LOG_LEVEL=debug shows the stack trace. */
  internal: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure whose message already says what to do, with its exit code. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(message: string, readonly exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** How long a command waits for NATS to answer: a port that is not NATS fails in seconds, not the client's default 20 s. */
export const CONNECT_TIMEOUT_MS = 5_000;

/** `url` without any user:password. */
export function displayUrl(url: string): string {
  // Every comma-separated entry, with or without a scheme; the last "@" ends the credentials.
  return url
    .split(',')
    .map((entry) => {
      const e = entry.trim();
      const at = e.lastIndexOf('@');
      if (at < 0) return e;
      const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(e)?.[0] ?? '';
      return scheme + e.slice(at + 1);
    })
    .join(',');
}

function errorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
}

const SOCKET_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
};

/** Explains why a NATS connection could not be made, as a CliError with exit code 3. */
export function natsConnectFailure(settings: NatsSettings, err: unknown): CliError {
  const url = displayUrl(settings.url);
  const e = err as Error;
  const text = `${e?.name ?? ''} ${e?.message ?? String(err)}`;
  const code = errorCode(err);
  let problem: string;
  let fix = 'set NATS_URL';
  if (/authori[sz]ation|authentication|auth(entication)? (violation|timeout|expired)|permissions violation|user authentication/i.test(text)) {
    problem = `NATS at ${url} refused the credentials: ${e.message}`;
    fix = 'check NATS_USER and NATS_PASSWORD, NATS_TOKEN, NATS_CREDS or NATS_NKEY_SEED';
  } else if (/tls|certificate|ssl/i.test(text) && code !== 'ECONNREFUSED') {
    problem = `cannot reach NATS at ${url}: TLS failed: ${e.message}`;
    fix = 'check NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY';
  } else if (code && SOCKET_WORDS[code]) {
    problem = `cannot reach NATS at ${url}: ${SOCKET_WORDS[code]}`;
  } else if (e?.name === 'TimeoutError' || /timeout/i.test(e?.message ?? '')) {
    problem = `cannot reach NATS at ${url}: no NATS answer within ${CONNECT_TIMEOUT_MS / 1000} s (is that a NATS port?)`;
  } else {
    problem = `cannot reach NATS at ${url}: ${e?.message ?? String(err)}`;
  }
  return new CliError(`${problem} (${fix})`, EXIT.unreachable, { cause: err });
}

/** Connects for a command, failing within CONNECT_TIMEOUT_MS with a one-line reason and exit code 3. */
export async function connectOrExplain(settings: NatsSettings, name: string, extra: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
  try {
    return await connectNats(settings, name, { timeout: CONNECT_TIMEOUT_MS, ...extra });
  } catch (err) {
    if (err instanceof Error && err.name === 'NatsSettingsError') throw err;
    throw natsConnectFailure(settings, err);
  }
}

/** An AWS SDK error, as far as a one-line explanation needs it. */
interface SdkError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
  address?: string;
  port?: number;
  hostname?: string;
}

/** One line and an exit code for any error that reaches the entry point. */
export async function describeFailure(err: unknown): Promise<{ line: string; exitCode: ExitCode }> {
  if (err instanceof CliError) return { line: err.message, exitCode: err.exitCode };
  const e = (err instanceof Error ? err : new Error(String(err))) as Error & SdkError;
  // Imported only once something failed, so that no command loads these modules for this check alone.
  const [{ ConfigError }, { NatsSettingsError }, { TopologyMismatchError }, { CommanderError }] = await Promise.all([
    import('../config/load-config.js'),
    import('../streams/connect-nats.js'),
    import('../streams/ensure-topology.js'),
    import('commander'),
  ]);
  if (e instanceof ConfigError || e instanceof NatsSettingsError) {
    return { line: `${e.message}${/\)$/.test(e.message) ? '' : ' (fix the setting, or FLANTS_CONFIG_FILE)'}`, exitCode: EXIT.usage };
  }
  if (e instanceof TopologyMismatchError || e.name === 'UnsafeStateReplicasError') return { line: e.message, exitCode: EXIT.usage };
  if (e instanceof CommanderError) return { line: `${e.message.replace(/^error: /, '')} (see flants --help)`, exitCode: EXIT.usage };
  if (e.name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message)) {
    return { line: `no AWS credentials: ${e.message} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE, in the environment or FLANTS_CONFIG_FILE)`, exitCode: EXIT.unreachable };
  }
  const code = errorCode(e);
  if (code && SOCKET_WORDS[code]) {
    const where = e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : (e.hostname ?? /(?:ENOTFOUND|ECONNREFUSED) (\S+)/.exec(e.message)?.[1] ?? 'a service');
    return { line: `cannot reach ${where}: ${SOCKET_WORDS[code]} (check FLANTS_SOURCE_ENDPOINT, FLANTS_DEST_ENDPOINT and FLANTS_LAMBDA_ENDPOINT)`, exitCode: EXIT.unreachable };
  }
  const status = e.$metadata?.httpStatusCode;
  if (status === 403 || ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDeniedException', 'UnrecognizedClientException'].includes(e.name)) {
    return { line: `access denied: ${e.name}: ${e.message} (check the AWS credentials and the policy for FLANTS_SOURCE, FLANTS_DEST and FLANTS_LAMBDA)`, exitCode: EXIT.unreachable };
  }
  // A 5xx (or a server fault the SDK names) is the service failing, not flants: say which request it failed.
  if ((status !== undefined && status >= 500) || (e as { $fault?: string }).$fault === 'server') {
    const label = s3FailureLabel(e);
    const what = label ? `${label.operation} failed` : 'a storage or Lambda request failed';
    const fix = label ? `check that service and ${label.setting}, then run again` : 'check the service at FLANTS_SOURCE_ENDPOINT, FLANTS_DEST_ENDPOINT or FLANTS_LAMBDA_ENDPOINT, then run again';
    return { line: `${what}: the service answered HTTP ${status ?? '5xx'} ${e.name}: ${e.message} (a fault of that service, not of flants: ${fix})`, exitCode: EXIT.unreachable };
  }
  if (e.name === 'ConnectionError' || e.name === 'ClosedConnectionError' || /connection (closed|draining)/i.test(e.message)) {
    return { line: `lost the NATS connection: ${e.message} (check that nats-server is running; NATS_URL)`, exitCode: EXIT.unreachable };
  }
  return { line: `internal error: ${e.name}: ${e.message} (run with LOG_LEVEL=debug for the stack trace, and report it)`, exitCode: EXIT.internal };
}
