/**
 * Tiny or inverted flow settings (FLANTS_MAX_QUEUED_JOBS=1,
 * FLANTS_CLASS_SLICE > FLANTS_MAX_QUEUED_JOBS) must not starve a class in
 * either lane; every class is reported complete with all its files.
 */
import { describe, expect, it } from 'vitest';
import { addClass } from './helpers/hls-fixtures.js';
import { startPipeline } from './helpers/pipeline.js';


describe('flow control - tiny flow settings', () => {
  for (const [max, slice] of [['1', '1'], ['3', '50']] as const) {
    it(`flow control - MAX_QUEUED_JOBS=${max} CLASS_SLICE=${slice}: live and bulk classes all complete`, async () => {
      const files: Record<string, string> = {};
      const classes = ['l0', 'l1', 'b0', 'b1'];
      for (const c of classes) addClass(files, c, 7);
      await using p = await startPipeline(
        files,
        { FLANTS_BATCH_SIZE: '5', FLANTS_BATCH_WAIT: '20ms', FLANTS_MAX_QUEUED_JOBS: max, FLANTS_CLASS_SLICE: slice },
        { lambda: { concurrency: 4, workers: 1 } },
      );
      const { t, js, outcomes } = p;
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
