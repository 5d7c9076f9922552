/**
 * A new recording triggered while the live lane is nearly full puts its whole
 * first slice in the live lane, in one turn, once there is any room. From
 * three reviews: it took the room there was (2 jobs) and the other 4 of its 6
 * files went to the bulk lane, behind a scan; made to wait for room for its
 * whole first slice, a 13-file recording never started while smaller ones took
 * each bit of room as it freed; taking room as it freed, turn after turn, read
 * a small recording's playlists each turn.
 */
import { AckPolicy } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { addClass } from './helpers/hls-fixtures.js';
import { startPipeline, type Pipeline } from './helpers/pipeline.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the work stream holds, read straight from it: by subject, and a class's jobs and crawl turns. */
function streamReaders({ t, jsm }: Pipeline) {
  const count = async (subject: string) => (await jsm.streams.info(t.streams.work, { subjects_filter: subject })).state.subjects?.[subject] ?? 0;
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
  return { count, ofClass };
}

describe('flow control - a live class keeps its first slice in the live lane', () => {
  it('flow control - a 6-file recording behind a full live lane goes whole into the live lane once there is room, none of it into the bulk lane', async () => {
    const files: Record<string, string> = {};
    for (const c of ['b0', 'b1', 'b2', 'A', 'B']) addClass(files, c, 30);
    addClass(files, 'R', 5);
    // No dispatcher: the test drains the live lane itself, two jobs at a time.
    await using p = await startPipeline(files, { FLANTS_MAX_QUEUED_JOBS: '20', FLANTS_CLASS_SLICE: '10' }, { lambda: false, actors: ['scanner', 'crawler', 'aggregator'] });
    const { t, js, jsm } = p;
    const { count, ofClass } = streamReaders(p);
    for (const c of ['b0', 'b1', 'b2']) await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    for (const until = Date.now() + 30_000; (await count(t.subjects.transferBulk)) < 20 && Date.now() < until; ) await sleep(200);
    for (const c of ['A', 'B']) await js.publish(t.subjects.recorded, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    for (const until = Date.now() + 30_000; (await count(t.subjects.transfer)) < 20 && Date.now() < until; ) await sleep(200);
    console.log(`flow control: lanes full: live ${await count(t.subjects.transfer)}, bulk ${await count(t.subjects.transferBulk)}`);

    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'R', manifest: 'R/master.m3u8' }));
    await sleep(2_000);
    console.log('flow control: R before any room:', JSON.stringify(await ofClass('R')));
    const readsOfR = () => p.origin.requests.filter((r) => r === 'GET /vod/R/master.m3u8').length;
    const readsBeforeRoom = readsOfR();

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
    // In one turn, once there was room: its playlists were read once for it. Taking the 2 jobs of room there was and
    // the rest in later turns read them again each turn, and an origin that names segments per session failed the
    // class as "changed while it was being enqueued" (a review).
    console.log(`flow control: R's playlist read ${readsOfR() - readsBeforeRoom} time(s) once there was room; crawl turns ${JSON.stringify(afterDrain.turns)}`);
    expect(readsOfR() - readsBeforeRoom).toBe(1);
    expect(afterRoom.out[t.subjects.transfer] ?? 0).toBe(6);
  }, 120_000);

  it('flow control - a recording of a whole slice is not starved by smaller ones that keep taking the room as it frees', async () => {
    const files: Record<string, string> = {};
    for (const c of ['A', 'B']) addClass(files, c, 30);
    addClass(files, 'R', 12); // 13 files: a first slice of 10 in the live lane, 3 in the bulk lane
    const smalls = Array.from({ length: 120 }, (_, k) => `s${k}`);
    for (const c of smalls) addClass(files, c, 1); // 2 files each
    await using p = await startPipeline(files, { FLANTS_MAX_QUEUED_JOBS: '20', FLANTS_CLASS_SLICE: '10' }, { lambda: false, actors: ['scanner', 'crawler', 'aggregator'] });
    const { t, js, jsm } = p;
    const { count, ofClass } = streamReaders(p);
    for (const c of ['A', 'B']) await js.publish(t.subjects.recorded, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
    for (const until = Date.now() + 30_000; (await count(t.subjects.transfer)) < 20 && Date.now() < until; ) await sleep(200);
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'R', manifest: 'R/master.m3u8' }));

    // A live-lane "dispatcher" that copies 2 jobs every 300 ms, while a new 2-file recording arrives as often:
    // the room never grows to 10 jobs while the recordings keep coming.
    await jsm.consumers.add(t.streams.work, { durable_name: 'drain', filter_subject: t.subjects.transfer, ack_policy: AckPolicy.Explicit });
    const drain = await js.consumers.get(t.streams.work, 'drain');
    const drainedOf: Record<string, number> = {};
    for (const c of smalls.slice(0, 60)) {
      await js.publish(t.subjects.recorded, JSON.stringify({ classId: c, manifest: `${c}/master.m3u8` }));
      const batch = await drain.fetch({ max_messages: 2, expires: 1_000 });
      for await (const m of batch) {
        const id = m.json<{ classId: string }>().classId;
        drainedOf[id] = (drainedOf[id] ?? 0) + 1;
        m.ack();
      }
      await sleep(300);
    }
    const r = await ofClass('R');
    const smallsQueued = smalls.slice(0, 60).filter((c) => (drainedOf[c] ?? 0) > 0).length;
    console.log(
      `flow control: under 60 recordings in 18 s, R: ${drainedOf.R ?? 0} taken from the live lane,`,
      JSON.stringify(r.out),
      `; ${smallsQueued} of the 60 smaller recordings copied meanwhile; live lane ${await count(t.subjects.transfer)}, bulk ${await count(t.subjects.transferBulk)}`,
    );
    // Its whole first slice went in the live lane while the smaller recordings kept coming. Its other 3 files wait
    // for their turn in the bulk lane (kept full by A's and B's rest here), never in the live lane.
    expect((drainedOf.R ?? 0) + (r.out[t.subjects.transfer] ?? 0)).toBe(10);
    expect(r.out[t.subjects.transferBulk] ?? 0).toBeLessThanOrEqual(3);
    for (const turn of r.turns) expect(turn).toEqual({ lane: 'bulk', enqueueFrom: 10 });
    // The smaller recordings were not held up either: most of them were copied as they came.
    expect(smallsQueued).toBeGreaterThanOrEqual(30);
  }, 120_000);
});
