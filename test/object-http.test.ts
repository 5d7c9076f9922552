/**
 * The direct GET/HEAD/PUT path must address and sign requests exactly as S3
 * expects. s3rver accepts any signature, so these requests go to a recording
 * HTTP server instead: each path must be byte-identical to the one the SDK
 * itself sends for the same key, and each signature must verify against the
 * canonical request AWS would build (re-derived with the SDK's SigV4 signer
 * from what arrived on the wire).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectIo } from '../storage/object-http.js';
import { makeS3Client } from '../storage/s3-client.js';

const creds = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const KEYS = ['plain/seg1.ts', 'a b/ü+!(1)*\'~=&;.ts', 'deep/x%2Fy/$@:,.m3u8'];

describe('storage - direct object requests are addressed and signed as S3 expects', () => {
  const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders }> = [];
  let endpoint = '';
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { etag: '"d41d8cd98f00b204e9800998ecf8427e"', 'content-length': '0' });
      res.end();
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const client = () => makeS3Client({ endpoint, region: 'eu-west-1', forcePathStyle: true, credentials: creds });

  /** Re-derives the signature from the request as received: what S3 does on its side. */
  async function verify(r: { method: string; url: string; headers: IncomingHttpHeaders }): Promise<void> {
    const auth = String(r.headers.authorization);
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
    expect(m, auth).not.toBeNull();
    const [, keyId, , region, signedHeaders, signature] = m as unknown as string[];
    expect(keyId).toBe(creds.accessKeyId);
    expect(region).toBe('eu-west-1');
    const headers: Record<string, string> = {};
    for (const name of (signedHeaders as string).split(';')) headers[name] = String(r.headers[name]);
    const amzDate = String(r.headers['x-amz-date']);
    const date = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
    const [path, query = ''] = r.url.split('?');
    // The SDK's own hash constructor, as its signer uses.
    const sha256 = (client().config as unknown as { sha256: ConstructorParameters<typeof SignatureV4>[0]['sha256'] }).sha256;
    const signer = new SignatureV4({ credentials: creds, region: 'eu-west-1', service: 's3', sha256, uriEscapePath: false });
    const again = await signer.sign(
      { method: r.method, protocol: 'http:', hostname: '127.0.0.1', path: path as string, headers, query: Object.fromEntries(new URLSearchParams(query)) },
      { signingDate: date },
    );
    expect(String(again.headers.authorization)).toContain(`Signature=${signature}`);
  }

  it('storage - GET, HEAD and PUT paths equal the SDK\'s own, and their signatures verify', async () => {
    for (const key of KEYS) {
      seen.length = 0;
      await client().send(new GetObjectCommand({ Bucket: 'vod-bucket', Key: key }));
      const sdkPath = seen[0]?.url.split('?')[0];
      const io = objectIo(client());
      const got = await io.get('vod-bucket', key);
      got.body.resume();
      await io.head('vod-bucket', key);
      await io.put('vod-bucket', key, Readable.from([Buffer.from('hello')]), { length: 5, contentMd5: '5d41402abc4b2a76b9719d911017c592', metadata: { 'flants-source-version': 'v1' } });
      const [, get, head, put] = seen;
      expect(get?.url, key).toBe(sdkPath);
      expect(head?.url, key).toBe(sdkPath);
      expect(put?.url, key).toBe(sdkPath);
      expect(put?.headers['x-amz-meta-flants-source-version']).toBe('v1');
      for (const r of [get, head, put]) await verify(r as (typeof seen)[number]);
    }
  });
});
