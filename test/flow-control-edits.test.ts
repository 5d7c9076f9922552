/**
 * A bulk class whose playlist changes between turns without changing its file
 * count (a segment replaced). Later turns number files by the new crawl while
 * earlier turns, and the playlist already copied, follow the old one: a review
 * found such a class reported complete with a referenced segment never copied.
 * The crawler now compares the ordered keys' digest, and fails the class; as
 * it does a class that a later turn finds live again.
 */
import { S3Client, ListObjectsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { mediaPlaylist as media } from './helpers/hls-fixtures.js';
import { startPipeline } from './helpers/pipeline.js';

async function keysOf(s3: S3Client): Promise<string[]> {
  const out = await s3.send(new ListObjectsCommand({ Bucket: 'dest-bucket' }));
  return (out.Contents ?? []).map((o) => o.Key as string);
}

/**
 * One 40-segment class `id` (150 ms per segment, slices of 10), a daemon copying it, and a way to wait until its
 * playlist (file 0, first of turn 1) is at the destination, when the test edits the source.
 */
async function editedClass(id: string, extra: Record<string, string>, env: Record<string, string> = {}) {
  const segs = Array.from({ length: 40 }, (_, i) => `s${i}.ts`);
  const files: Record<string, string> = { [`/vod/${id}/master.m3u8`]: media(segs), ...extra };
  for (const s of segs) files[`/vod/${id}/${s}`] = `${id}-${s}`;
  const p = await startPipeline(files, {
    FLANTS_BATCH_SIZE: '5',
    FLANTS_BATCH_WAIT: '20ms',
    FLANTS_WAVE_CONCURRENCY: '1',
    FLANTS_FILE_CONCURRENCY: '2',
    FLANTS_MAX_QUEUED_JOBS: '10',
    FLANTS_CLASS_SLICE: '10',
    ...env,
  });
  for (const s of segs) p.origin.delays.set(`/vod/${id}/${s}`, 150);
  const playlistCopied = async () => {
    const until = Date.now() + 20_000;
    while (!(await keysOf(p.s3)).some((k) => k.endsWith(`${id}/master.m3u8`)) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  };
  return Object.assign(p, { segs, playlistCopied });
}

describe('flow control - a bulk class edited between its turns', () => {
  it('flow control - a bulk class whose playlist changes between turns (same count) is not reported complete with a file missing', async () => {
    await using c = await editedClass('c1', { '/vod/c1/z30.ts': 'c1-z30 (replacement of s30)' });
    const { segs, origin, s3, outcomes, t, js } = c;

    // The older form of a bulk trigger (scans before class.recorded.bulk): still the bulk lane from the crawler on.
    await js.publish(t.subjects.recorded, JSON.stringify({ classId: 'c1', manifest: 'c1/master.m3u8', lane: 'bulk' }));
    // Turn 1 copies the playlist (index 0, no delay) and a few segments; then the source is edited:
    // segment 30 is replaced by z30.ts, the file count stays 41.
    await c.playlistCopied();
    origin.files.set('/vod/c1/master.m3u8', Buffer.from(media(segs.map((s) => (s === 's30.ts' ? 'z30.ts' : s)))));

    const [outcome] = await outcomes.of('c1', 1, 60_000);
    const keys = await keysOf(s3);
    const copiedPlaylist = keys.find((k) => k.endsWith('c1/master.m3u8')) as string;
    const body = Buffer.from(
      await ((await s3.send(new (await import('@aws-sdk/client-s3')).GetObjectCommand({ Bucket: 'dest-bucket', Key: copiedPlaylist }))).Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    ).toString();
    const referenced = body.split('\n').filter((l) => l.endsWith('.ts'));
    const dir = copiedPlaylist.slice(0, -'master.m3u8'.length);
    const missing = referenced.filter((r) => !keys.includes(dir + r));
    console.log(`flow control edit: outcome ${outcome?.status} files=${outcome?.files}; destination playlist references ${referenced.length} segments, missing at destination: ${JSON.stringify(missing)}; extra: ${JSON.stringify(keys.filter((k) => k.endsWith('z30.ts')))}`);
    // Either the run is not reported complete, or the copy it reports is whole.
    if (outcome?.status === 'complete') expect(missing).toEqual([]);
    else expect(outcome?.reason).toMatch(/changed while it was being enqueued \(41 files, not the same ones\)/);
  }, 120_000);

  it('flow control - a class found live again by a later turn (and given up on) fails with the reason instead of reusing file numbers', async () => {
    // A third review: such a turn enqueued from file 0 over numbers earlier turns had used, and
    // deduplication by number dropped the files that had moved. Any recording still live is given up on
    // at once here, so that turn enqueues its files in one go.
    await using c = await editedClass('c2', { '/vod/c2/new.ts': 'c2-new' }, { FLANTS_LIVE_MAX_WAIT: '1ms' });
    const { segs, origin, outcomes, t, js } = c;

    await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: 'c2', manifest: 'c2/master.m3u8' }));
    await c.playlistCopied();
    // The playlist loses its end tag and gains a segment in the middle: live again, and every later number moved.
    const live = [...segs.slice(0, 20), 'new.ts', ...segs.slice(20)];
    origin.files.set('/vod/c2/master.m3u8', Buffer.from(media(live).replace('#EXT-X-ENDLIST\n', '')));

    const [outcome] = await outcomes.of('c2', 1, 60_000);
    console.log(`flow control edit: live again: outcome ${outcome?.status}: ${outcome?.reason}`);
    expect(outcome?.status).toBe('failed');
    expect(outcome?.reason).toMatch(/changed while it was being enqueued \(41 files, now 42\)/);
  }, 120_000);

  it('flow control - a class found live again by a later turn with the same files fails with the reason, not reported incomplete', async () => {
    // A review: that turn enqueued the class whole from file 0 (given up on), its first slice in the bulk lane, and
    // reported it incomplete over the numbers earlier turns had used.
    await using c = await editedClass('c3', {}, { FLANTS_LIVE_MAX_WAIT: '1ms' });
    const { segs, origin, outcomes, t, js } = c;
    await js.publish(t.subjects.recordedBulk, JSON.stringify({ classId: 'c3', manifest: 'c3/master.m3u8' }));
    await c.playlistCopied();
    origin.files.set('/vod/c3/master.m3u8', Buffer.from(media(segs).replace('#EXT-X-ENDLIST\n', '')));
    const [outcome] = await outcomes.of('c3', 1, 60_000);
    console.log(`flow control edit: live again, same files: outcome ${outcome?.status}: ${outcome?.reason}`);
    expect(outcome?.status).toBe('failed');
    expect(outcome?.reason).toMatch(/changed while it was being enqueued \(the same 41 files, but live again: no EXT-X-ENDLIST\)/);
  }, 120_000);
});
