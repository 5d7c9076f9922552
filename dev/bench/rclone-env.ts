/**
 * The environment rclone runs in for the copy benchmarks: two S3 remotes,
 * `src:` and `dst:`, configured by variables (no config file), so that a
 * copy between them streams through rclone as flants' does.
 */

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
