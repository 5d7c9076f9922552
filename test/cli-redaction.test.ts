/** What the command line prints about NATS servers never carries their credentials. */
import { describe, expect, it } from 'vitest';
import { displayUrl } from '../cli/failures.js';
import { ConfigError, loadConfig } from '../config/load-config.js';

describe('cli - no credentials in messages', () => {
  it('cli - server lists are shown without user and password, in every form', () => {
    expect(displayUrl('user:secret@host:4222')).toBe('host:4222');
    expect(displayUrl('nats://u:p@a:4222,u2:p2@b:4222')).toBe('nats://a:4222,b:4222');
    expect(displayUrl('nats://user:pa@ss@host:4222')).toBe('nats://host:4222');
    expect(displayUrl('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
  });

  it('cli - an invalid NATS_URL is refused without echoing its password', () => {
    let err: unknown;
    try {
      loadConfig({ NATS_URL: 'nats://user:se/cr#et@', FLANTS_SOURCE: 'https://o.example/vod/', FLANTS_DEST: 's3://b/' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(/NATS_URL/);
    expect(String((err as Error).message)).not.toMatch(/se\/cr|et@|user/);
  });
});
