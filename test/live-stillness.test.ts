/**
 * The stale-recording rule's decision (actors/crawler.ts liveStillness) and
 * what a re-crawl message may carry for it. The end-to-end behaviour is in
 * test/hls-packagers.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { liveStillness } from '../actors/crawler.js';
import { crawlJobSchema } from '../streams/messages.js';

describe('live stillness', () => {
  const STALE = 60_000;

  it('live stillness - a new digest is never stale and starts no count; the same one counts from its first unchanged look', () => {
    expect(liveStillness({ liveDigest: 'a' }, 'b', 1_000_000, STALE)).toEqual({ stale: false, digest: 'b' });
    expect(liveStillness({}, 'b', 1_000_000, STALE)).toEqual({ stale: false, digest: 'b' });
    // The first look that finds it unchanged starts the count at its own stored time.
    expect(liveStillness({ liveDigest: 'b' }, 'b', 1_000_000, STALE)).toEqual({ stale: false, digest: 'b', since: 1_000_000 });
    expect(liveStillness({ liveDigest: 'b', liveSince: 1_000_000 }, 'b', 1_059_999, STALE).stale).toBe(false);
    expect(liveStillness({ liveDigest: 'b', liveSince: 1_000_000 }, 'b', 1_060_000, STALE)).toEqual({ stale: true, digest: 'b', since: 1_000_000 });
    // Changed again: the count is gone.
    expect(liveStillness({ liveDigest: 'b', liveSince: 1_000_000 }, 'c', 2_000_000, STALE)).toEqual({ stale: false, digest: 'c' });
  });

  it('live stillness - 0 is never stale, and a since ahead of the stored time counts from the stored time', () => {
    expect(liveStillness({ liveDigest: 'b', liveSince: 0 }, 'b', 10_000_000, 0).stale).toBe(false);
    expect(liveStillness({ liveDigest: 'b', liveSince: 9_000_000 }, 'b', 1_000_000, STALE)).toEqual({ stale: false, digest: 'b', since: 1_000_000 });
  });

  it('live stillness - a re-crawl message with an unreadable digest or since is still a crawl job (the count restarts)', () => {
    const job = { classId: 'c', runId: '1', manifest: 'c/index.m3u8', startedAt: '2026-11-27T00:00:00Z' };
    for (const bad of [{ liveSince: '2026-11-27T00:00:00Z' }, { liveSince: -5 }, { liveSince: 1.5 }, { liveDigest: 'x'.repeat(65) }, { liveDigest: 7 }]) {
      const parsed = crawlJobSchema.parse({ ...job, liveDigest: 'd', ...bad });
      expect(parsed.classId).toBe('c');
      expect('liveSince' in bad ? parsed.liveSince : parsed.liveDigest).toBeUndefined();
    }
  });
});
