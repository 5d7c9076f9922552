/**
 * Labels each failed request of a command's S3 client with what it was doing,
 * for the command's one-line error (cli/failures.ts). The SDK's errors name
 * neither the operation, nor the bucket, nor the endpoint: a listing that the
 * service failed with HTTP 500 read only `InternalError: We encountered an
 * internal error`, and looked like a flants bug.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { endpointShown } from '../storage/source-root.js';

/** Which of the two ends a client reaches, and the setting that points it there. */
export type S3Role = 'source' | 'destination';

/** What a failed request was doing, and the setting to check. */
export interface S3FailureLabel {
  /** e.g. `source ListObjectsV2 of s3://media/vod/ at http://127.0.0.1:9000` */
  readonly operation: string;
  readonly setting: 'FLANTS_SOURCE_ENDPOINT' | 'FLANTS_DEST_ENDPOINT';
}

const LABEL = Symbol('flants.s3-failure-label');

/** Adds the label to every error that `client`'s requests throw; returns the client. */
export function labelS3Failures(client: S3Client, role: S3Role, endpoint: string | undefined): S3Client {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        if (err !== null && typeof err === 'object' && !(LABEL in err)) {
          const input = (args.input ?? {}) as { Bucket?: string; Key?: string; Prefix?: string };
          const operation = [
            role,
            (context.commandName ?? 'request').replace(/Command$/, ''),
            input.Bucket ? `of s3://${input.Bucket}/${input.Key ?? input.Prefix ?? ''}` : '',
            `at ${endpoint ? endpointShown(endpoint) : 'AWS S3'}`,
          ].filter(Boolean).join(' ');
          const label: S3FailureLabel = { operation, setting: role === 'source' ? 'FLANTS_SOURCE_ENDPOINT' : 'FLANTS_DEST_ENDPOINT' };
          Object.defineProperty(err, LABEL, { value: label });
        }
        throw err;
      }
    },
    { step: 'initialize', name: 'flantsLabelFailures' },
  );
  return client;
}

/** The label of an error thrown through a labelled client, if any. */
export function s3FailureLabel(err: unknown): S3FailureLabel | undefined {
  return err !== null && typeof err === 'object' ? ((err as Record<symbol, S3FailureLabel | undefined>)[LABEL]) : undefined;
}
