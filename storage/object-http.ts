/**
 * GetObject, HeadObject and PutObject for the per-file hot path, sent straight
 * on node:http(s) but addressed, authorised and signed by the SDK itself: the
 * client's endpoint rules pick the URL, its credential provider and SigV4
 * signer sign the request.
 *
 * Why not `client.send()`: a CPU profile of the copier (README, Benchmarks)
 * put the SDK's per-request middleware, schema serde and signing wrappers at
 * about 37 % of the copier's CPU on 0.05–2 MB segments. These three calls are
 * plain HTTP and need none of it. Anything the direct path cannot sign plainly
 * (SigV4a multi-region access points, S3 Express sessions) and `directIo:
 * false` go through the SDK commands unchanged.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { SignatureV4 } from '@smithy/signature-v4';
import { agentsOf } from './s3-client.js';

/** What GET and HEAD report about an object. */
export interface ObjectInfo {
  readonly length?: number;
  /** The ETag as sent, quotes included. */
  readonly etag?: string;
  readonly lastModified?: Date;
  readonly sse?: string;
  readonly sseCustomerAlgorithm?: string;
  readonly metadata: Record<string, string>;
}

/** An object being read. */
export interface ObjectBody extends ObjectInfo {
  readonly body: Readable;
}

/** Options for a read. */
export interface GetOptions {
  /** HTTP Range header value, e.g. `bytes=0-99`. */
  readonly range?: string;
  readonly signal?: AbortSignal;
}

/** Options for a write. */
export interface PutOptions {
  readonly length: number;
  /** Base64 MD5 of the body: the service refuses the upload (BadDigest) if the bytes differ. */
  readonly contentMd5?: string;
  readonly metadata?: Record<string, string>;
  readonly signal?: AbortSignal;
}

/** What a write reports. */
export interface PutResult {
  readonly etag?: string;
  readonly sse?: string;
  readonly sseCustomerAlgorithm?: string;
}

/** The three object calls of the copy path. */
export interface ObjectIo {
  get(bucket: string, key: string, o?: GetOptions): Promise<ObjectBody>;
  head(bucket: string, key: string, signal?: AbortSignal): Promise<ObjectInfo>;
  put(bucket: string, key: string, body: Readable, o: PutOptions): Promise<PutResult>;
}

/** Longest wait for a response once the request is sent, as the SDK client's requestTimeout. */
const RESPONSE_TIMEOUT_MS = 120_000;
/** Longest error body read, to find its <Code>. */
const MAX_ERROR_BODY = 64 * 1024;

/** Same escaping as the SDK's greedy {Key+} label: each segment encoded, slashes kept. */
function encodeKey(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

/** An error shaped like the SDK's service exceptions, so the error taxonomy reads both alike. */
class S3HttpError extends Error {
  readonly $metadata: { httpStatusCode: number };
  readonly Code?: string;
  constructor(status: number, code: string | undefined, message: string) {
    super(message);
    this.name = code ?? (status === 404 ? 'NotFound' : `Http${status}`);
    this.Code = code;
    this.$metadata = { httpStatusCode: status };
  }
}

/** A long key with its middle cut out: reasons are cut to 200 characters, and the answer must come before that. */
function keyShown(key: string): string {
  return key.length > 120 ? `${key.slice(0, 70)}…${key.slice(-40)}` : key;
}

async function errorFrom(res: IncomingMessage, what: string): Promise<S3HttpError> {
  let text = '';
  for await (const chunk of res) {
    if (text.length < MAX_ERROR_BODY) text += (chunk as Buffer).toString('utf8');
  }
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]{0,500})<\/Message>/.exec(text)?.[1];
  const status = res.statusCode ?? 0;
  return new S3HttpError(status, code, `${what} answered HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''}`);
}

function infoFrom(res: IncomingMessage): ObjectInfo {
  const h = res.headers;
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith('x-amz-meta-') && typeof value === 'string') metadata[name.slice(11)] = value;
  }
  const length = h['content-length'];
  const lastModified = h['last-modified'] ? new Date(h['last-modified']) : undefined;
  return {
    length: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
    etag: h.etag,
    lastModified: lastModified && !Number.isNaN(lastModified.getTime()) ? lastModified : undefined,
    sse: h['x-amz-server-side-encryption'] as string | undefined,
    sseCustomerAlgorithm: h['x-amz-server-side-encryption-customer-algorithm'] as string | undefined,
    metadata,
  };
}

interface BucketTarget {
  readonly url: URL;
  readonly signer: SignatureV4;
}

/** The direct path for one client; buckets it cannot sign plainly fall back to the SDK. */
class DirectObjectIo implements ObjectIo {
  private readonly targets = new Map<string, Promise<BucketTarget | undefined>>();
  private readonly sdk: SdkObjectIo;
  // The client's own keep-alive sockets when makeS3Client made it; otherwise a pool of our own, made once.
  private readonly agents: { http: HttpAgent; https: HttpsAgent };

  constructor(private readonly client: S3Client) {
    this.sdk = new SdkObjectIo(client);
    this.agents = agentsOf(client) ?? { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  }

  // The client's own endpoint rules, once per bucket: path or virtual-host
  // style, FIPS, dual-stack and custom endpoints all come out as the SDK
  // would address them.
  private target(bucket: string): Promise<BucketTarget | undefined> {
    let hit = this.targets.get(bucket);
    if (!hit) {
      hit = this.resolve(bucket);
      hit.catch(() => this.targets.delete(bucket));
      this.targets.set(bucket, hit);
    }
    return hit;
  }

  private async resolve(bucket: string): Promise<BucketTarget | undefined> {
    const config = this.client.config as unknown as Parameters<typeof getEndpointFromInstructions>[2] & {
      credentials: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
      sha256: ConstructorParameters<typeof SignatureV4>[0]['sha256'];
      region: () => Promise<string>;
    };
    const endpoint = await getEndpointFromInstructions({ Bucket: bucket, Key: 'k' }, GetObjectCommand, config);
    const schemes = (endpoint.properties?.authSchemes ?? []) as Array<{ name?: string; signingRegion?: string; signingName?: string }>;
    const scheme = schemes[0];
    if (scheme && scheme.name !== 'sigv4') return undefined;
    return {
      url: new URL(endpoint.url.href),
      signer: new SignatureV4({
        credentials: config.credentials,
        region: scheme?.signingRegion ?? (await config.region()),
        service: scheme?.signingName ?? 's3',
        sha256: config.sha256,
        uriEscapePath: false, // S3 signs the path encoded once, as sent
        applyChecksum: false,
      }),
    };
  }

  private async send(t: BucketTarget, method: string, key: string, headers: Record<string, string>, signal: AbortSignal | undefined, body?: Readable): Promise<IncomingMessage> {
    const base = t.url.pathname.endsWith('/') ? t.url.pathname : `${t.url.pathname}/`;
    const path = `${base}${encodeKey(key)}`;
    const signed = await t.signer.sign({
      method,
      protocol: t.url.protocol,
      hostname: t.url.hostname,
      port: t.url.port ? Number(t.url.port) : undefined,
      path,
      query: {},
      headers: { host: t.url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers },
    });
    const https = t.url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = send({
        method,
        hostname: t.url.hostname,
        port: t.url.port || undefined,
        path,
        headers: signed.headers,
        agent: https ? this.agents.https : this.agents.http,
        signal,
        timeout: RESPONSE_TIMEOUT_MS,
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.once('timeout', () => req.destroy(new Error(`${method} ${key}: no response within ${RESPONSE_TIMEOUT_MS} ms`)));
      if (!body) return void req.end();
      // A failing body aborts the request, so the upload never waits for bytes that will not come.
      body.once('error', (err) => req.destroy(err));
      body.pipe(req);
    });
  }

  async get(bucket: string, key: string, o: GetOptions = {}): Promise<ObjectBody> {
    const t = await this.target(bucket);
    if (!t) return this.sdk.get(bucket, key, o);
    const res = await this.send(t, 'GET', key, o.range ? { range: o.range } : {}, o.signal);
    if (res.statusCode !== 200 && res.statusCode !== 206) throw await errorFrom(res, `GET ${keyShown(key)}`);
    return { ...infoFrom(res), body: res };
  }

  async head(bucket: string, key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    const t = await this.target(bucket);
    if (!t) return this.sdk.head(bucket, key, signal);
    const res = await this.send(t, 'HEAD', key, {}, signal);
    res.resume();
    if (res.statusCode !== 200) throw new S3HttpError(res.statusCode ?? 0, res.statusCode === 404 ? 'NotFound' : undefined, `HEAD ${key} answered HTTP ${res.statusCode}`);
    return infoFrom(res);
  }

  async put(bucket: string, key: string, body: Readable, o: PutOptions): Promise<PutResult> {
    const t = await this.target(bucket);
    if (!t) return this.sdk.put(bucket, key, body, o);
    const headers: Record<string, string> = { 'content-length': String(o.length) };
    if (o.contentMd5) headers['content-md5'] = o.contentMd5;
    for (const [name, value] of Object.entries(o.metadata ?? {})) headers[`x-amz-meta-${name}`] = value;
    const res = await this.send(t, 'PUT', key, headers, o.signal, body);
    if (res.statusCode !== 200) throw await errorFrom(res, `PUT ${keyShown(key)}`);
    res.resume();
    const info = infoFrom(res);
    return { etag: info.etag, sse: info.sse, sseCustomerAlgorithm: info.sseCustomerAlgorithm };
  }
}

/** ObjectInfo from a GetObject or HeadObject output. */
function sdkInfo(out: HeadObjectCommandOutput): ObjectInfo {
  return {
    length: out.ContentLength,
    etag: out.ETag,
    lastModified: out.LastModified,
    sse: out.ServerSideEncryption,
    sseCustomerAlgorithm: out.SSECustomerAlgorithm,
    metadata: out.Metadata ?? {},
  };
}

/** The same three calls through the SDK's commands. */
class SdkObjectIo implements ObjectIo {
  constructor(private readonly client: S3Client) {}

  async get(bucket: string, key: string, o: GetOptions = {}): Promise<ObjectBody> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: o.range }), { abortSignal: o.signal });
    return { ...sdkInfo(out), body: out.Body as Readable };
  }

  async head(bucket: string, key: string, signal?: AbortSignal): Promise<ObjectInfo> {
    return sdkInfo(await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }));
  }

  async put(bucket: string, key: string, body: Readable, o: PutOptions): Promise<PutResult> {
    const out = await this.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: o.length, ContentMD5: o.contentMd5, Metadata: o.metadata }),
      { abortSignal: o.signal },
    );
    return { etag: out.ETag, sse: out.ServerSideEncryption, sseCustomerAlgorithm: out.SSECustomerAlgorithm };
  }
}

const direct = new WeakMap<S3Client, ObjectIo>();
const viaSdk = new WeakMap<S3Client, ObjectIo>();

/** The object calls for `client`: direct unless `directIo` is false. One instance per client. */
export function objectIo(client: S3Client, directIo = true): ObjectIo {
  const cache = directIo ? direct : viaSdk;
  let io = cache.get(client);
  if (!io) {
    io = directIo ? new DirectObjectIo(client) : new SdkObjectIo(client);
    cache.set(client, io);
  }
  return io;
}
