/**
 * rclone for the copy benchmarks: two S3 remotes, `src:` and `dst:`,
 * configured by variables (no config file), so that a copy between them
 * streams through rclone as flants' does, and one timed copy between them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** `base` plus the two remotes; AWS_CA_BUNDLE is dropped: rclone's S3 backend fails on a bundle it cannot apply to its transport, and these endpoints are plain HTTP. */
export function rcloneEnv(
  base: NodeJS.ProcessEnv,
  src: string,
  dst: string,
  credentials: { readonly accessKeyId: string; readonly secretAccessKey: string },
): NodeJS.ProcessEnv {
  const { AWS_CA_BUNDLE: _bundle, ...inherited } = base;
  const remote = (name: 'SRC' | 'DST', endpoint: string) => ({
    [`RCLONE_CONFIG_${name}_TYPE`]: 's3',
    [`RCLONE_CONFIG_${name}_PROVIDER`]: 'Other',
    [`RCLONE_CONFIG_${name}_ENDPOINT`]: endpoint,
    [`RCLONE_CONFIG_${name}_ACCESS_KEY_ID`]: credentials.accessKeyId,
    [`RCLONE_CONFIG_${name}_SECRET_ACCESS_KEY`]: credentials.secretAccessKey,
  });
  return { ...inherited, ...remote('SRC', src), ...remote('DST', dst) };
}

/**
 * `rclone copy from to` with the flags (--transfers 32 --checkers 16
 * --fast-list; s3rver needs --fast-list), timed by /usr/bin/time: wall
 * seconds, CPU (user + system) and peak RSS of the whole rclone process.
 */
export async function rcloneCopy(env: NodeJS.ProcessEnv, from: string, to: string, timeoutMs = 0): Promise<{ seconds: number; cpuSeconds: number; peakRssMb: number }> {
  const started = Date.now();
  const { stderr } = await promisify(execFile)(
    '/usr/bin/time', ['-f', 'TIME %e %U %S %M', 'rclone', 'copy', from, to, '--transfers', '32', '--checkers', '16', '--fast-list'],
    { env, maxBuffer: 64 << 20, timeout: timeoutMs },
  );
  const m = /TIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
  if (!m) throw new Error(`rclone printed no timing: ${stderr.slice(-500)}`);
  return { seconds: (Date.now() - started) / 1000, cpuSeconds: Number(m[2]) + Number(m[3]), peakRssMb: Number(m[4]) / 1024 };
}
