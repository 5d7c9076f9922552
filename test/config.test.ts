/** Configuration: validated once, errors name the variable. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../config/load-config.js';

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
