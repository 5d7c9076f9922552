/**
 * Tiny or inverted flow settings (FLANTS_MAX_QUEUED_JOBS=1,
 * FLANTS_CLASS_SLICE > FLANTS_MAX_QUEUED_JOBS) must not starve a class in
 * either lane; every class is reported complete with all its files.
 */
import { jetstream } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../cli/daemon.js';
import { startLocalLambda } from '../lambda/local-endpoint.js';
import { topology } from '../streams/topology.js';
import { addClass } from './helpers/hls-fixtures.js';
import { startOrigin } from './helpers/origin.js';
import { natsClient, startNats, startS3, pipelineConfig, testLogger, watchOutcomes } from './helpers/services.js';


describe('flow control - tiny flow settings', () => {
  for (const [max, slice] of [['1', '1'], ['3', '50']] as const) {
    it(`flow control - MAX_QUEUED_JOBS=${max} CLASS_SLICE=${slice}: live and bulk classes all complete`, async () => {
      await using nats = await startNats();
      await using dst = await startS3('dest-bucket');
      await using lambda = await startLocalLambda({ concurrency: 4, timeoutMs: 60_000, workers: 1 });
      const files: Record<string, string> = {};
      const classes = ['l0', 'l1', 'b0', 'b1'];
      for (const c of classes) {
        addClass(files, c, 7);
      }
      await using origin = await startOrigin(files);
      const config = pipelineConfig({ nats, origin, dest: dst, lambda }, {
        FLANTS_BATCH_SIZE: '5', FLANTS_BATCH_WAIT: '20ms', FLANTS_MAX_QUEUED_JOBS: max, FLANTS_CLASS_SLICE: slice,
      });
      const t = topology(config.namespace);
      await using _daemon = await startDaemon({ config, logger: testLogger() });
      await using client = await natsClient(nats.url);
      const js = jetstream(client);
      const outcomes = watchOutcomes(client, t.subjects.transferred);
      for (const c of classes) {
        await js.publish(c.startsWith('b') ? t.subjects.recordedBulk : t.subjects.recorded, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
      }
      const started = Date.now();
      for (const c of classes) {
        const [o] = await outcomes.of(c, 1, 90_000);
        expect(o).toMatchObject({ status: 'complete', files: 8 });
      }
      console.log(`flow control: max=${max} slice=${slice}: all complete in ${Date.now() - started} ms; outcomes per class ${classes.map((c) => outcomes.byClass.get(c)?.length).join(',')}`);
    }, 150_000);
  }
});
