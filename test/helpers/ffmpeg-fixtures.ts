/**
 * Real packager output for crawler tests: ffmpeg (Debian's) writes HLS in the
 * layouts players meet in the wild. Each fixture is a directory whose every
 * file a playlist references (plus nothing else).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const VIDEO = ['-f', 'lavfi', '-i', 'testsrc=size=160x90:rate=25:duration=6'];
const AUDIO = ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=6'];
const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-b:v', '200k'];
const HLS = ['-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod'];

function ffmpeg(cwd: string, args: string[]): void {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Every file under `dir`, as relative paths. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

/** Generated fixtures: name → { dir, entry playlist }. */
export interface Fixtures {
  readonly root: string;
  readonly classes: Record<string, { entry: string; files: string[] }>;
}

/** Generates the four packagings; takes a few seconds. */
export function makeFfmpegFixtures(): Fixtures {
  const root = mkdtempSync(join(tmpdir(), 'flants-hls-'));
  const dir = (name: string) => {
    const d = join(root, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  // fMP4 with init segments, two video renditions and a separate audio group.
  ffmpeg(dir('fmp4'), [
    ...VIDEO, ...AUDIO, '-map', '0:v', '-map', '0:v', '-map', '1:a', ...X264, '-s:v:1', '96x54', '-b:v:1', '100k',
    '-c:a', 'aac', '-b:a', '64k', ...HLS, '-hls_segment_type', 'fmp4', '-master_pl_name', 'master.m3u8',
    '-var_stream_map', 'v:0,agroup:aud v:1,agroup:aud a:0,agroup:aud', '-hls_segment_filename', 'v%v/seg%d.m4s', 'v%v/index.m3u8',
  ]);
  // AES-128 with a key file (the key info file lives outside the served tree).
  const aes = dir('aes');
  writeFileSync(join(root, 'enc.key'), randomBytes(16));
  writeFileSync(join(root, 'keyinfo'), `key.bin\n${join(root, 'enc.key')}\n`);
  ffmpeg(aes, [...VIDEO, ...AUDIO, ...X264, '-c:a', 'aac', ...HLS, '-hls_key_info_file', join(root, 'keyinfo'), '-hls_segment_filename', 'seg%d.ts', 'index.m3u8']);
  writeFileSync(join(aes, 'key.bin'), readFileSync(join(root, 'enc.key')));
  // Single-file byte-range renditions.
  ffmpeg(dir('single'), [
    ...VIDEO, '-map', '0:v', '-map', '0:v', ...X264, '-s:v:1', '96x54', ...HLS, '-hls_flags', 'single_file',
    '-master_pl_name', 'master.m3u8', '-var_stream_map', 'v:0 v:1', 'v%v/index.m3u8',
  ]);
  // WebVTT subtitles in their own group.
  const vtt = dir('vtt');
  writeFileSync(join(root, 'subs.srt'), '1\n00:00:00,500 --> 00:00:02,000\nHello\n\n2\n00:00:02,500 --> 00:00:05,000\nWorld\n');
  ffmpeg(vtt, [
    ...VIDEO, '-i', join(root, 'subs.srt'), '-map', '0:v', '-map', '1:s', ...X264, '-c:s', 'webvtt', ...HLS,
    '-master_pl_name', 'master.m3u8', '-var_stream_map', 'v:0,s:0,sgroup:subs', '-hls_segment_filename', 'v%v/seg%d.ts', 'v%v/index.m3u8',
  ]);
  return {
    root,
    classes: {
      fmp4: { entry: 'master.m3u8', files: listFiles(join(root, 'fmp4')) },
      aes: { entry: 'index.m3u8', files: listFiles(aes) },
      single: { entry: 'master.m3u8', files: listFiles(join(root, 'single')) },
      vtt: { entry: 'master.m3u8', files: listFiles(vtt) },
    },
  };
}
