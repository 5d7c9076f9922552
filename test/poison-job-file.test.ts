/**
 * What a poison transfer job still tells about its file (fileOfPoisonJob):
 * enough to fail that file, so its class is reported; never more than it
 * carries readably.
 */
import { describe, expect, it } from 'vitest';
import { fileOfPoisonJob } from '../streams/messages.js';

const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

describe('messages - a poison transfer job names its file', () => {
  it('messages - names the file by its key when the job carries one', () => {
    const job = fileOfPoisonJob(bytes({ classId: 'c1', runId: '5-z', i: 3, src: 'c1/s3.ts', key: 'c1/s3.ts', optional: 'yes' }));
    expect(job).toMatchObject({ classId: 'c1', runId: '5-z', i: 3, key: 'c1/s3.ts' });
  });

  it('messages - names the file by its number when its key is missing, not text, or too long', () => {
    for (const key of [undefined, 42, 'k'.repeat(1025)]) {
      const job = fileOfPoisonJob(bytes({ classId: 'c1', runId: '5-z', i: 7, src: 'c1/s7.ts', key }));
      expect(job?.key).toBe('(file #7: the poison job carries no readable key)');
    }
  });

  it('messages - names nothing when its class, run or number cannot be read', () => {
    expect(fileOfPoisonJob(bytes({ runId: '5-z', i: 1, key: 'x' }))).toBeUndefined();
    expect(fileOfPoisonJob(bytes({ classId: 'c1', runId: '', i: 1, key: 'x' }))).toBeUndefined();
    expect(fileOfPoisonJob(bytes({ classId: 'c1', runId: '5-z', i: -1, key: 'x' }))).toBeUndefined();
    expect(fileOfPoisonJob(bytes('{not json'))).toBeUndefined();
  });
});
