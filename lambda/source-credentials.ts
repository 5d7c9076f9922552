/**
 * Source credentials for the transfer Lambda. The source is often another
 * provider, so it has credentials of its own: from Secrets Manager when
 * FLANTS_SOURCE_SECRET_ARN is set (the deployed function: a JSON secret
 * `{"accessKeyId", "secretAccessKey", "sessionToken"?}`), else from
 * FLANTS_SOURCE_ACCESS_KEY_ID / _SECRET_ACCESS_KEY (local runs), else the
 * function's own role.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** Static credentials for the source, or undefined for the default chain. */
export interface SourceCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

let cached: Promise<SourceCredentials | undefined> | undefined;

/** Resolves the source credentials once per warm function. */
export function sourceCredentials(env: NodeJS.ProcessEnv = process.env): Promise<SourceCredentials | undefined> {
  cached ??= load(env).catch((err) => {
    cached = undefined; // a failed lookup is retried by the next invocation
    throw err;
  });
  return cached;
}

async function load(env: NodeJS.ProcessEnv): Promise<SourceCredentials | undefined> {
  const arn = env.FLANTS_SOURCE_SECRET_ARN;
  if (arn) {
    const sm = new SecretsManagerClient({});
    const out = await sm.send(new GetSecretValueCommand({ SecretId: arn }));
    let parsed: Partial<SourceCredentials>;
    try {
      parsed = JSON.parse(out.SecretString ?? '') as Partial<SourceCredentials>;
    } catch {
      throw new Error('FLANTS_SOURCE_SECRET_ARN must name a JSON secret {"accessKeyId", "secretAccessKey", "sessionToken"?}');
    }
    if (!parsed.accessKeyId || !parsed.secretAccessKey) throw new Error('the source secret lacks accessKeyId or secretAccessKey');
    return { accessKeyId: parsed.accessKeyId, secretAccessKey: parsed.secretAccessKey, sessionToken: parsed.sessionToken };
  }
  const accessKeyId = env.FLANTS_SOURCE_ACCESS_KEY_ID;
  const secretAccessKey = env.FLANTS_SOURCE_SECRET_ACCESS_KEY;
  return accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey, sessionToken: env.FLANTS_SOURCE_SESSION_TOKEN } : undefined;
}
