/**
 * Durations and byte sizes as people write them. A unit is required: a bare
 * `120` could mean milliseconds or seconds, and guessing wrong turns a
 * two-minute ack wait into 120 ms. Only `0` stands alone.
 */

const DURATION_UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const SIZE_UNITS: Record<string, number> = {
  b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3,
};

/** A value that is not a duration or size; the message says what to write instead. */
export class UnitError extends Error {
  override name = 'UnitError';
}

/** Parses human durations such as `500ms`, `5s`, `2m`, `1h`, `7d` (or `0`) into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new UnitError(`is not a duration: ${JSON.stringify(text)} (write e.g. 500ms, 5s, 2m, 1h, 7d)`);
  const n = Number(m[1]);
  if (m[2] === undefined) {
    if (n === 0) return 0;
    throw new UnitError(`is a number without a unit: ${JSON.stringify(text.trim())} (write ${m[1]}s for seconds or ${m[1]}ms for milliseconds)`);
  }
  return Math.round(n * DURATION_UNITS[m[2] as keyof typeof DURATION_UNITS]);
}

/** Parses byte sizes such as `64MiB`, `5MB`, `512KiB`, `100B` (or `0`). */
export function parseBytes(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$/i.exec(text);
  if (!m) throw new UnitError(`is not a size: ${JSON.stringify(text)} (write e.g. 64MiB, 5MB, 512KiB)`);
  const n = Number(m[1]);
  if (m[2] === undefined) {
    if (n === 0) return 0;
    throw new UnitError(`is a number without a unit: ${JSON.stringify(text.trim())} (write ${m[1]}B for bytes, or e.g. 64MiB)`);
  }
  return Math.round(n * (SIZE_UNITS[m[2].toLowerCase()] ?? 1));
}

/** Shows milliseconds the way a person would write them back into a setting. */
export function formatDuration(ms: number): string {
  for (const [unit, scale] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= scale && ms % scale === 0) return `${ms / scale}${unit}`;
  }
  return `${ms}ms`;
}
