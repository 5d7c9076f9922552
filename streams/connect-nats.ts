/**
 * One way to connect to NATS, with authentication and TLS from the
 * environment: user/password, token, an nkey seed file or a creds file, and
 * TLS CA, certificate and key files. Every command and actor connects here.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';

/** NATS connection settings, read from the environment. */
export interface NatsSettings {
  readonly url: string;
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  /** A `.creds` file (JWT + nkey seed), as `nsc` writes it. */
  readonly credsFile?: string;
  /** A file holding an nkey seed (SU...). */
  readonly nkeySeedFile?: string;
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

/** Thrown for inconsistent NATS settings; the message names the variables. */
export class NatsSettingsError extends Error {
  override name = 'NatsSettingsError';
}

/** Reads NATS_URL, NATS_USER/NATS_PASSWORD, NATS_TOKEN, NATS_CREDS, NATS_NKEY_SEED and NATS_TLS_CA/CERT/KEY. */
export function natsSettings(env: NodeJS.ProcessEnv = process.env): NatsSettings {
  const v = (k: string) => (env[k] === undefined || env[k] === '' ? undefined : env[k]);
  const s: NatsSettings = {
    url: v('NATS_URL') ?? 'nats://127.0.0.1:4222',
    user: v('NATS_USER'),
    password: v('NATS_PASSWORD'),
    token: v('NATS_TOKEN'),
    credsFile: v('NATS_CREDS'),
    nkeySeedFile: v('NATS_NKEY_SEED'),
    tls: v('NATS_TLS_CA') || v('NATS_TLS_CERT') || v('NATS_TLS_KEY')
      ? { caFile: v('NATS_TLS_CA'), certFile: v('NATS_TLS_CERT'), keyFile: v('NATS_TLS_KEY') }
      : undefined,
  };
  if ((s.user === undefined) !== (s.password === undefined)) throw new NatsSettingsError('NATS_USER and NATS_PASSWORD must be set together');
  const methods = [s.user ? 'NATS_USER' : '', s.token ? 'NATS_TOKEN' : '', s.credsFile ? 'NATS_CREDS' : '', s.nkeySeedFile ? 'NATS_NKEY_SEED' : ''].filter(Boolean);
  if (methods.length > 1) throw new NatsSettingsError(`choose one NATS authentication method, not ${methods.join(' and ')}`);
  if (s.tls && Boolean(s.tls.certFile) !== Boolean(s.tls.keyFile)) throw new NatsSettingsError('NATS_TLS_CERT and NATS_TLS_KEY must be set together');
  return s;
}

function readSecretFile(variable: string, path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new NatsSettingsError(`${variable} names a file that cannot be read: ${(err as Error).message}`);
  }
}

/** Connection options for `s`; `name` shows in the server's connection list. */
export function natsConnectOptions(s: NatsSettings, name: string, extra: Partial<NodeConnectionOptions> = {}): NodeConnectionOptions {
  // noAsyncTraces: otherwise the client builds two Error objects, with stack
  // traces, for every request and JetStream publish in case it later fails. A
  // CPU profile of the crawler at 10,000 publishes/s put that, and the garbage
  // collection it causes, at over half the process's CPU. Failures still carry
  // their message and cause.
  const o: NodeConnectionOptions = { servers: s.url.split(',').map((x) => x.trim()), name, noAsyncTraces: true, ...extra };
  if (s.user) Object.assign(o, { user: s.user, pass: s.password });
  if (s.token) o.token = s.token;
  if (s.credsFile) o.authenticator = credsAuthenticator(readSecretFile('NATS_CREDS', s.credsFile));
  if (s.nkeySeedFile) o.authenticator = nkeyAuthenticator(new TextEncoder().encode(new TextDecoder().decode(readSecretFile('NATS_NKEY_SEED', s.nkeySeedFile)).trim()));
  if (s.tls) o.tls = { ...s.tls };
  return o;
}

/** Connects; long-running processes reconnect forever. */
export function connectNats(s: NatsSettings, name: string, extra: Partial<NodeConnectionOptions> = {}): Promise<NatsConnection> {
  return connect(natsConnectOptions(s, name, extra));
}
