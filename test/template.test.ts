/**
 * The CloudFormation template's permissions, read as CloudFormation reads
 * them (cfn-lint's parser understands !Sub and !Ref). `cfn-lint validate` runs
 * in operations.test.ts.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const { openFile } = createRequire(import.meta.url)('cfn-lint/lib/parser.js') as { openFile(path: string): Template };

interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: unknown;
}
interface Template {
  readonly Resources: Record<string, { Properties: { PolicyDocument?: { Statement: Statement[] } } }>;
}

const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe('template - least-privilege source access', () => {
  it('template - the function may list the source bucket, so a missing EXT-X-GAP segment answers 404, not 403', () => {
    const statements = openFile('deploy/template.yaml').Resources.SourceReadPolicy?.Properties.PolicyDocument?.Statement ?? [];
    const list = statements.filter((s) => s.Effect === 'Allow' && actions(s).includes('s3:ListBucket'));
    // ListBucket names the bucket itself, never its objects (/*); without it S3 hides a missing key behind 403.
    expect(list.map((s) => s.Resource)).toEqual([{ 'Fn::Sub': 'arn:aws:s3:::${SourceBucket}' }]);
    // Reading stays limited to the source prefix.
    const get = statements.filter((s) => actions(s).includes('s3:GetObject'));
    expect(get.map((s) => s.Resource)).toEqual([{ 'Fn::Sub': 'arn:aws:s3:::${SourceBucket}/${SourcePrefix}*' }]);
  });
});
