/** Configuration: validated once, errors name the variable. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyConfigFile, ConfigError, loadConfig, loadConnectionConfig, unknownVariableWarnings } from '../config/load-config.js';

const base = { FLANTS_SOURCE: 's3://src-bucket/lib', FLANTS_DEST: 's3://dst-bucket/mirror' };

describe('config - loading', () => {
  it('config - applies documented defaults', () => {
    const c = loadConfig(base);
    expect(c.natsUrl).toBe('nats://127.0.0.1:4222');
    expect(c.batchSize).toBe(100);
    expect(c.maxAttempts).toBe(3);
    expect(c.retryBackoffMs).toEqual([1_000, 5_000, 30_000]);
    expect(c.manifestTemplate).toBe('{classId}/master.m3u8');
    expect(c.lambda.functionName).toBe('local');
    expect(c.source).toEqual({ kind: 's3', bucket: 'src-bucket', prefix: 'lib/' });
    expect(c.dest).toEqual({ kind: 's3', bucket: 'dst-bucket', prefix: 'mirror/' });
    expect(c.destS3.forcePathStyle).toBe(false);
  });

  it('config - accepts an HTTP origin source and separate source credentials', () => {
    const c = loadConfig({
      ...base,
      FLANTS_SOURCE: 'https://cdn.example.com/vod',
      FLANTS_SOURCE_ACCESS_KEY_ID: 'AKIA',
      FLANTS_SOURCE_SECRET_ACCESS_KEY: 'secret',
    });
    expect(c.source).toEqual({ kind: 'http', root: 'https://cdn.example.com/vod/' });
    expect(c.sourceS3.credentials?.accessKeyId).toBe('AKIA');
  });

  it.each([
    [{ FLANTS_DEST: undefined }, /FLANTS_DEST/],
    [{ FLANTS_SOURCE: undefined }, /FLANTS_SOURCE/],
    [{ FLANTS_BATCH_SIZE: 'many' }, /FLANTS_BATCH_SIZE/],
    [{ FLANTS_BATCH_SIZE: '0' }, /FLANTS_BATCH_SIZE/],
    [{ FLANTS_MAX_ATTEMPTS: '-1' }, /FLANTS_MAX_ATTEMPTS/],
    [{ FLANTS_SOURCE: 'ftp://x/y' }, /FLANTS_SOURCE/],
    [{ FLANTS_DEST: 'https://x/y' }, /FLANTS_DEST must look like s3:\/\/bucket\/prefix/],
    [{ FLANTS_DEST: 's3://A_/x' }, /FLANTS_DEST names an invalid bucket/],
    [{ FLANTS_SOURCE_ENDPOINT: 'not a url' }, /FLANTS_SOURCE_ENDPOINT/],
    [{ FLANTS_RETRY_BACKOFF: '1s,soon' }, /FLANTS_RETRY_BACKOFF/],
    [{ FLANTS_MANIFEST_TEMPLATE: 'master.m3u8' }, /FLANTS_MANIFEST_TEMPLATE/],
    [{ FLANTS_SOURCE_ACCESS_KEY_ID: 'AKIA' }, /FLANTS_SOURCE_ACCESS_KEY_ID/],
    [{ FLANTS_PART_SIZE: '1MiB' }, /FLANTS_PART_SIZE/],
    [{ FLANTS_SOURCE: 'https://user:pw@cdn.example.com/' }, /FLANTS_SOURCE must not embed credentials/],
  ])('config - rejects %o naming the variable', (override, message) => {
    const env = { ...base, ...override } as Record<string, string | undefined>;
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe('config - units, zeros and flants\' own words', () => {
  it.each([
    [{ FLANTS_ACK_WAIT: '120' }, /^FLANTS_ACK_WAIT is a number without a unit: "120" \(write 120s for seconds or 120ms for milliseconds\)$/],
    [{ FLANTS_STALL_TIMEOUT: '30' }, /FLANTS_STALL_TIMEOUT .*write 30s/],
    [{ FLANTS_BATCH_WAIT: '200' }, /FLANTS_BATCH_WAIT .*write 200s/],
    [{ FLANTS_RETRY_BACKOFF: '1s,5000' }, /FLANTS_RETRY_BACKOFF has an entry that is a number without a unit: "5000"/],
    [{ FLANTS_PART_SIZE: '16777216' }, /FLANTS_PART_SIZE is a number without a unit: "16777216" \(write 16777216B/],
    [{ FLANTS_STALL_TIMEOUT: '0s' }, /FLANTS_STALL_TIMEOUT must be longer than 0/],
    [{ FLANTS_ACK_WAIT: '0s' }, /FLANTS_ACK_WAIT must be longer than 0/],
    [{ FLANTS_LAMBDA_TIMEOUT: '0ms' }, /FLANTS_LAMBDA_TIMEOUT must be longer than 0/],
    [{ NATS_URL: 'not a url' }, /NATS_URL is not a NATS server URL: "not a url"/],
    [{ NATS_URL: 'http://127.0.0.1:4222' }, /NATS_URL is not a NATS server URL/],
    [{ FLANTS_BATCH_SIZE: 'many' }, /^FLANTS_BATCH_SIZE must be a whole number, not "many"$/],
    [{ FLANTS_METRICS_PORT: 'x' }, /^FLANTS_METRICS_PORT must be a whole number, not "x"$/],
    [{ FLANTS_STREAM_REPLICAS: '9' }, /^FLANTS_STREAM_REPLICAS must be between 1 and 5, not 9$/],
    [{ FLANTS_LIVE: 'maybe' }, /^FLANTS_LIVE must be recrawl or incomplete$/],
    [{ FLANTS_LIVE_STALE_AFTER: '10s', FLANTS_LIVE_RECRAWL_INTERVAL: '30s' }, /^FLANTS_LIVE_STALE_AFTER must be 0 \(never\) or at least twice FLANTS_LIVE_RECRAWL_INTERVAL/],
    [{ FLANTS_LIVE_RECRAWL_INTERVAL: '2h' }, /^FLANTS_LIVE_RECRAWL_INTERVAL must be at most 1h/],
    [{ FLANTS_KEEP_QUERY: 'sure' }, /^FLANTS_KEEP_QUERY must be true or false$/],
  ])('config - refuses %o in flants words', (override, message) => {
    const env = { ...base, ...override };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
    expect(() => loadConfig(env)).not.toThrow(/expected|received|Invalid input|NaN/);
  });

  it('config - durations and sizes with units, and a bare 0 where 0 means off', () => {
    const c = loadConfig({ ...base, FLANTS_ACK_WAIT: '2m', FLANTS_BATCH_WAIT: '0', FLANTS_RECORDED_MAX_AGE: '0', FLANTS_PART_SIZE: '8MiB', FLANTS_RETRY_BACKOFF: '500ms,2s', NATS_URL: 'nats://a:4222,tls://b:4222,c:4222' });
    expect([c.ackWaitMs, c.batchWaitMs, c.recordedMaxAgeMs, c.transfer.partSize, c.retryBackoffMs]).toEqual([120_000, 0, 0, 8 * 1024 * 1024, [500, 2_000]]);
  });

  it('config - FLANTS_LIVE_STALE_AFTER: 15m by default, at least twice a longer re-crawl interval when left unset, 0 for never', () => {
    expect(loadConfig(base).live.staleAfterMs).toBe(15 * 60_000);
    expect(loadConfig({ ...base, FLANTS_LIVE_RECRAWL_INTERVAL: '10m' }).live.staleAfterMs).toBe(20 * 60_000);
    expect(loadConfig({ ...base, FLANTS_LIVE_STALE_AFTER: '0' }).live.staleAfterMs).toBe(0);
    expect(loadConfig({ ...base, FLANTS_LIVE_STALE_AFTER: '1m', FLANTS_LIVE_RECRAWL_INTERVAL: '30s' }).live.staleAfterMs).toBe(60_000);
  });

  it('config - several bad variables in one line', () => {
    expect(() => loadConfig({ ...base, FLANTS_ACK_WAIT: '1', FLANTS_BATCH_SIZE: '0' })).toThrow(/FLANTS_BATCH_SIZE must be between 1 and 10000, not 0; FLANTS_ACK_WAIT is a number without a unit/);
  });

  it('config - warns about unknown FLANTS_ variables with the nearest known one', () => {
    expect(unknownVariableWarnings({ ...base, FLANTS_BATCHSIZE: '50', FLANTS_ACKWAIT: '1s', FLANTS_ZZZZZZZZZZZZ: '1', FLANTS_CONFIG_FILE: '', PATH: '/bin' })).toEqual([
      'FLANTS_ACKWAIT is not a flants setting and is ignored (did you mean FLANTS_ACK_WAIT?)',
      'FLANTS_BATCHSIZE is not a flants setting and is ignored (did you mean FLANTS_BATCH_SIZE?)',
      'FLANTS_ZZZZZZZZZZZZ is not a flants setting and is ignored (see the configuration table in the README)',
    ]);
    expect(unknownVariableWarnings({ ...base, FLANTS_BATCH_SIZE: '5', FLANTS_LOG_FORMAT: 'json' })).toEqual([]);
  });

  it('config - the config file fills the environment (the environment wins), AWS keys included', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'flants-cfg-')), 'flants.env');
    writeFileSync(file, '# comment\nFLANTS_NAMESPACE=fromfile\nNATS_URL=nats://127.0.0.1:4999\nexport AWS_ACCESS_KEY_ID="AKIAFILE"\nFLANTS_BATCH_SIZE=7\n');
    const env: NodeJS.ProcessEnv = { FLANTS_CONFIG_FILE: file, FLANTS_BATCH_SIZE: '9' };
    expect(loadConnectionConfig(env)).toMatchObject({ namespace: 'fromfile', natsUrl: 'nats://127.0.0.1:4999' });
    applyConfigFile(env);
    expect(env).toMatchObject({ FLANTS_NAMESPACE: 'fromfile', AWS_ACCESS_KEY_ID: 'AKIAFILE', FLANTS_BATCH_SIZE: '9' });
    expect(() => loadConnectionConfig({ FLANTS_CONFIG_FILE: join(tmpdir(), 'no-such-flants.env') })).toThrow(/FLANTS_CONFIG_FILE names .*no-such-flants.env, which cannot be read: does not exist/);
  });
});
