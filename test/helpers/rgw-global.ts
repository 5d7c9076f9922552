/**
 * vitest globalSetup: one private Ceph RADOS Gateway for the whole run (it
 * takes about 8 s to start), shared by every test file through `inject('rgw')`.
 * Tests isolate themselves with unique buckets. Set FLANTS_TEST_RGW to
 * `endpoint,accessKeyId,secretAccessKey` to use a gateway already running
 * (`node dist/dev/local/ceph-rgw.js` prints one).
 */
import type { TestProject } from 'vitest/node';
import { startCephRgw } from '../../dev/local/ceph-rgw.js';

/** What test files get from `inject('rgw')`. */
export interface RgwSettings {
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    rgw: RgwSettings;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.FLANTS_TEST_RGW?.split(',');
  if (given && given.length === 3) {
    const [endpoint, accessKeyId, secretAccessKey] = given as [string, string, string];
    project.provide('rgw', { endpoint, accessKeyId, secretAccessKey });
    return undefined;
  }
  const rgw = await startCephRgw({ log: (line) => process.stderr.write(`[ceph-rgw] ${line}\n`) });
  project.provide('rgw', { endpoint: rgw.endpoint, accessKeyId: rgw.accessKeyId, secretAccessKey: rgw.secretAccessKey });
  return () => rgw.close();
}
