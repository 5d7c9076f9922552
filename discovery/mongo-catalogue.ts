/**
 * The MongoDB catalogue, through the official driver: full scans with cursor
 * batching (never the whole collection in memory), incremental scans since a
 * watermark, and a change stream that picks up newly recorded classes with no
 * trigger at all (replica sets only).
 */
import type { ChangeStream, Document, Filter, MongoClient } from 'mongodb';
import type { Logger } from 'pino';
import { fromDocument, type Candidate, type FieldMapping, type Skipped, type ValidationRules } from './candidate.js';

/** Where the catalogue is and how to read it. */
export interface CatalogueConfig {
  readonly db?: string;
  readonly collection: string;
  readonly filter: Record<string, unknown>;
  readonly fields: FieldMapping;
  readonly rules: ValidationRules;
  readonly batchSize: number;
}

/**
 * The query of a scan: the configured filter, and with `since` only documents
 * recorded or changed after it. Following updates too means that a class that
 * becomes eligible later (its status set to broadcast) is still picked up.
 */
export function catalogueFilter(c: Pick<CatalogueConfig, 'filter' | 'fields'>, since?: Date): Filter<Document> {
  if (!since) return { ...c.filter };
  return { $and: [c.filter, { $or: [{ [c.fields.recordedAt]: { $gt: since } }, { [c.fields.updatedAt]: { $gt: since } }] }] };
}

/** Yields every matching document as a candidate or a skip; `since` limits it to classes recorded or changed after it. */
export async function* scanCatalogue(client: MongoClient, c: CatalogueConfig, since?: Date): AsyncGenerator<Candidate | Skipped> {
  const filter = catalogueFilter(c, since);
  const cursor = client
    .db(c.db)
    .collection(c.collection)
    .find(filter, { batchSize: c.batchSize })
    .sort({ [c.fields.recordedAt]: 1 });
  try {
    for await (const doc of cursor) yield fromDocument(doc, c.fields, c.rules);
  } finally {
    await cursor.close();
  }
}

/** True when the server can serve change streams (a replica set or sharded cluster). */
export async function supportsChangeStreams(client: MongoClient): Promise<boolean> {
  const hello = await client.db('admin').command({ hello: 1 });
  return Boolean(hello.setName) || hello.msg === 'isdbgrid';
}

/** Watches for inserted or updated class documents that match the filter; returns a stop function. */
export function watchCatalogue(
  client: MongoClient,
  c: CatalogueConfig,
  onClass: (x: Candidate | Skipped) => Promise<void>,
  logger: Logger,
): { stop: () => Promise<void> } {
  const match: Record<string, unknown> = { operationType: { $in: ['insert', 'update', 'replace'] } };
  for (const [k, v] of Object.entries(c.filter)) match[`fullDocument.${k}`] = v;
  const stream: ChangeStream = client
    .db(c.db)
    .collection(c.collection)
    .watch([{ $match: match }], { fullDocument: 'updateLookup' });
  stream.on('change', (change) => {
    const doc = (change as { fullDocument?: Document }).fullDocument;
    if (!doc) return;
    const x = fromDocument(doc, c.fields, c.rules);
    void onClass('reason' in x ? x : { ...x, origin: 'change-stream' }).catch((err) => logger.error({ err }, 'change stream: could not queue class'));
  });
  stream.on('error', (err) => logger.error({ err }, 'catalogue change stream failed'));
  return { stop: () => stream.close() };
}
