/**
 * Checks an invocation payload against the wave contract (lambda/wave.ts)
 * before the handler touches it. Anyone allowed to invoke the function can
 * send anything: a payload such as `{}` used to fail deep inside the handler
 * as `TypeError: Cannot read properties of undefined (reading 'directIo')`.
 * Now it fails at the door, as the function's own error naming each field.
 */
// zod/mini: the same checks, and the deployed bundle stays 0.7 MB (full zod added 0.46 MB to every cold start).
// Its messages come from a locale, loaded here alone ("expected object, received undefined" rather than "Invalid input").
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import type { WaveRequest } from './wave.js';

z.config(en());

/** The invocation payload is not a wave request; nothing was read or written. */
export class InvalidWaveRequestError extends Error {
  override name = 'InvalidWaveRequest';
}

const natural = z.int().check(z.nonnegative());
const positive = z.int().check(z.positive());
/** S3's smallest part (all but the last), as the configuration requires. */
const partBytes = z.int().check(z.gte(5 * 1024 * 1024));
/** Longer than a timer can wait: Node would fire it after 1 ms. */
const timerMs = z.int().check(z.positive(), z.lte(2 ** 31 - 1));
const nonEmpty = z.string().check(z.minLength(1));
// Objects stay open: a newer dispatcher may send fields that this handler does not know yet.
// A prefix with "." or ".." segments would write outside the configured one, which the configuration refuses too.
const prefix = z.string().check(z.refine((p) => !p.split('/').some((seg) => seg === '.' || seg === '..'), 'must not contain "." or ".." segments'));
const s3Location = z.looseObject({ kind: z.literal('s3'), bucket: nonEmpty, prefix });
const httpLocation = z.looseObject({ kind: z.literal('http'), root: nonEmpty });
const ends = { endpoint: z.optional(z.string()), region: nonEmpty, forcePathStyle: z.boolean() };

const waveRequestSchema = z.looseObject({
  op: z.optional(z.enum(['copy', 'hash'])),
  source: z.looseObject({ location: z.discriminatedUnion('kind', [s3Location, httpLocation]), allow: z.optional(z.array(z.string())), ...ends }),
  dest: z.looseObject({ location: s3Location, ...ends }),
  jobs: z.array(
    z.looseObject({
      src: z.string(),
      key: z.string(),
      optional: z.optional(z.boolean()),
      part: z.optional(z.looseObject({ uploadId: nonEmpty, n: natural, count: natural, start: natural, end: natural, size: natural, version: z.optional(z.string()) })),
      assemble: z.optional(z.looseObject({ uploadId: nonEmpty, size: natural, version: z.optional(z.string()), parts: z.array(z.looseObject({ n: natural, etag: z.string() })) })),
    }),
  ),
  options: z.looseObject({
    multipartThreshold: positive,
    partSize: partBytes,
    fileConcurrency: z.int().check(z.positive()),
    stallTimeoutMs: timerMs,
    skipIdentical: z.optional(z.boolean()),
    serverSideCopy: z.optional(z.boolean()),
    serverSideMinBytes: z.optional(natural),
    directIo: z.optional(z.boolean()),
    splitThreshold: z.optional(positive),
    splitPartSize: z.optional(partBytes),
  }),
});

/** At most this many problems are named; the rest are counted. */
const MAX_NAMED = 5;

/**
 * Returns `payload` itself (unknown fields kept) when it is a wave request;
 * throws InvalidWaveRequestError naming each problem otherwise.
 */
export function parseWaveRequest(payload: unknown): WaveRequest {
  const checked = waveRequestSchema.safeParse(payload);
  if (checked.success) return payload as WaveRequest;
  const issues = checked.error.issues;
  const named = issues.slice(0, MAX_NAMED).map((i) => `${i.path.length ? i.path.join('.') : 'payload'}: ${i.message}`);
  if (issues.length > MAX_NAMED) named.push(`and ${issues.length - MAX_NAMED} more`);
  throw new InvalidWaveRequestError(
    `the invocation payload is not a flants wave request: ${named.join('; ')} ` +
      '(send {source, dest, jobs, options} as the dispatcher does; see lambda/wave.ts)',
  );
}
