/**
 * The synthetic HLS library the chaos and fleet runs serve from their origin:
 * classes of renditions of random segments, every body held in memory so that
 * the run can compare what arrived byte for byte.
 */
import { randomBytes } from 'node:crypto';
import type { ClassTransferred } from '../../streams/messages.js';

/** How big the library is. */
export interface TestLibrarySpec {
  readonly classes: number;
  readonly renditions: number;
  readonly segments: number;
  readonly minBytes: number;
  readonly maxBytes: number;
}

/** A library of `classes` HLS classes with random segment bodies, as the origin serves it under /vod/. */
export function buildLibrary(o: TestLibrarySpec, prefix = 'chaos') {
  const files = new Map<string, Buffer>();
  const expected = new Map<string, { files: number; bytes: number }>();
  const classIds: string[] = [];
  for (let c = 0; c < o.classes; c++) {
    const id = `${prefix}-${String(c).padStart(3, '0')}`;
    classIds.push(id);
    let count = 0;
    let bytes = 0;
    const add = (path: string, body: Buffer) => {
      files.set(`/vod/${id}/${path}`, body);
      count++;
      bytes += body.length;
    };
    const master = ['#EXTM3U'];
    for (let r = 0; r < o.renditions; r++) {
      master.push(`#EXT-X-STREAM-INF:BANDWIDTH=${(r + 1) * 100_000}`, `r${r}/index.m3u8`);
      const media = ['#EXTM3U', '#EXT-X-TARGETDURATION:2', '#EXT-X-PLAYLIST-TYPE:VOD'];
      for (let s = 0; s < o.segments; s++) {
        media.push('#EXTINF:2,', `s${s}.ts`);
        const size = o.minBytes + Math.floor(Math.random() * (o.maxBytes - o.minBytes));
        add(`r${r}/s${s}.ts`, randomBytes(size));
      }
      media.push('#EXT-X-ENDLIST', '');
      add(`r${r}/index.m3u8`, Buffer.from(media.join('\n')));
    }
    add('master.m3u8', Buffer.from(`${master.join('\n')}\n`));
    expected.set(id, { files: count, bytes });
  }
  return { files, expected, classIds };
}


/** What every whole-library run reports, for the checks it ends with. */
export interface LibraryRun {
  readonly files: number;
  readonly bytes: number;
  readonly classIds: string[];
  readonly expected: Map<string, { files: number; bytes: number }>;
  /** Source path (under the origin's /vod/) → bytes. */
  readonly library: Map<string, Buffer>;
  /** Every `class.transferred` read back from the stream. */
  readonly outcomes: ClassTransferred[];
  /** `class.transferred` messages stored in the stream: duplicates would show here. */
  readonly transferredInStream: number;
}

/** The common part of a run's report, from the library it served and the outcomes stored. */
export function libraryRun(built: ReturnType<typeof buildLibrary>, outcomes: ClassTransferred[], transferredInStream: number): LibraryRun {
  return {
    files: built.files.size,
    bytes: [...built.files.values()].reduce((n, b) => n + b.length, 0),
    classIds: built.classIds,
    expected: built.expected,
    library: built.files,
    outcomes,
    transferredInStream,
  };
}
