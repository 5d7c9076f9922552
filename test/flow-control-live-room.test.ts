/**
 * A new recording triggered while the live lane is nearly full waits for room
 * for its whole first slice. From a review: it took the room there was (2
 * jobs) and the other 4 of its 6 files went to the bulk lane, behind a scan.
 */
import { AckPolicy } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { addClass } from './helpers/hls-fixtures.js';
import { startPipeline } from './helpers/pipeline.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('flow control - a live class waits for room for its first slice', () => {
  it('flow control - a 6-file recording behind a full live lane goes whole into the live lane once there is room, none of it into the bulk lane', async () => {
    const files: Record<string, string> = {};
    for (const c of ['b0', 'b1', 'b2', 'A', 'B']) addClass(files, c, 30);
    addClass(files, 'R', 5);
    // No dispatcher: the test drains the live lane itself, two jobs at a time.
    await using p = await startPipeline(files, { FLANTS_MAX_QUEUED_JOBS: '20', FLANTS_CLASS_SLICE: '10' }, { lambda: false, actors: ['scanner', 'crawler', 'aggregator'] });
    const { t, js, jsm } = p;
    const count = async (subject: string) => (await jsm.streams.info(t.streams.work, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
    /** Jobs (and crawl turns) of a class, by subject, read straight from the stream. */
    const ofClass = async (classId: string) => {
      const si = await jsm.streams.info(t.streams.work);
      const out: Record<string, number> = {};
      const turns: unknown[] = [];
      for (let seq = si.state.first_seq; seq <= si.state.last_seq; seq++) {
        const m = await jsm.streams.getMessage(t.streams.work, { seq }).catch(() => undefined);
        if (!m) continue;
        const j = m.json<{ classId: string; lane?: string; enqueueFrom?: number }>();
        if (j.classId !== classId) continue;
        out[m.subject] = (out[m.subject] ?? 0) + 1;
        if (m.subject === t.subjects.crawl) turns.push({ lane: j.lane, enqueueFrom: j.enqueueFrom });
      }
      return { out, turns };
    };
    for (const c of ['b0', 'b1', 'b2']) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    for (const until = Date.now() + 30_000; (await count(t.subjects.transferBulk)) < 20 && Date.now() < until; ) await sleep(200);
    for (const c of ['A', 'B']) await js.publish(t.subjects.recorded, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    for (const until = Date.now() + 30_000; (await count(t.subjects.transfer)) < 20 && Date.now() < until; ) await sleep(200);
    console.log(`flow control: lanes full: live ${await count(t.subjects.transfer)}, bulk ${await count(t.subjects.transferBulk)}`);

    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'R', manifest: 'R/master.m3u8' }));
    await sleep(2_000);
    console.log('flow control: R before any room:', JSON.stringify(await ofClass('R')));

    // A live-lane "dispatcher" that copies 2 jobs: room for 2 opens in the live lane.
    await jsm.consumers.add(t.streams.work, { durable_name: 'drain', filter_subject: t.subjects.transfer, ack_policy: AckPolicy.Explicit });
    const drain = await js.consumers.get(t.streams.work, 'drain');
    let drained = 0;
    for (const until = Date.now() + 10_000; drained < 2 && Date.now() < until; ) {
      const batch = await drain.fetch({ max_messages: 2 - drained, expires: 1_000 });
      for await (const m of batch) {
        m.ack();
        drained++;
      }
    }
    await sleep(3_000);
    const afterRoom = await ofClass('R');
    console.log('flow control: R after 2 jobs of room in the live lane:', JSON.stringify(afterRoom));

    // Now the live lane drains completely: the recording's other files are still not queued anywhere.
    let drainedOfR = 0;
    for (const until = Date.now() + 5_000; Date.now() < until; ) {
      const batch = await drain.fetch({ max_messages: 50, expires: 1_000 });
      for await (const m of batch) {
        if (m.json<{ classId: string }>().classId === 'R') drainedOfR++;
        m.ack();
      }
    }
    await sleep(3_000);
    const afterDrain = await ofClass('R');
    console.log(`flow control: live lane now ${await count(t.subjects.transfer)}, bulk ${await count(t.subjects.transferBulk)}; R: ${drainedOfR} taken from the live lane,`, JSON.stringify(afterDrain));
    // Its files (5 segments and the playlist) all went in the live lane: it is smaller than one slice.
    expect(afterRoom.out[t.subjects.transferBulk] ?? 0).toBe(0);
    expect(drainedOfR + (afterDrain.out[t.subjects.transfer] ?? 0)).toBe(6);
    expect(afterDrain.out[t.subjects.transferBulk] ?? 0).toBe(0);
  }, 120_000);
});
