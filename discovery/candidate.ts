/**
 * A class found by a scan (catalogue, bucket listing or index file), and the
 * rules that decide whether it is queued. Pure functions: unit tested alone.
 */
import { classIdSchema } from '../streams/messages.js';

/** A class a scan proposes to queue. */
export interface Candidate {
  readonly classId: string;
  /** Entry playlist relative to FLANTS_SOURCE; the manifest template applies when absent. */
  readonly manifest?: string;
  readonly recordedAt?: Date;
  /** The later of recordedAt and the document's last update: what an incremental scan's watermark follows. */
  readonly changedAt?: Date;
  readonly origin: 'catalogue' | 'bucket' | 'index' | 'change-stream';
}

/** A class a scan saw and left out, with why. */
export interface Skipped {
  readonly classId: string;
  readonly reason: string;
}

/** Which catalogue fields hold what; dotted paths reach into sub-documents. */
export interface FieldMapping {
  readonly classId: string;
  readonly manifest: string;
  readonly recordedAt: string;
  /** When the document last changed (a status set to broadcast later, say); incremental scans follow it too. */
  readonly updatedAt: string;
  /** A boolean field marking test classes. */
  readonly test: string;
  readonly status: string;
}

/** What makes a catalogue document a class worth transferring. */
export interface ValidationRules {
  /** Status values that mean "do not transfer" (e.g. aborted, test). */
  readonly skipStatuses: readonly string[];
  /** When true, a document without a manifest field is skipped (otherwise the template applies). */
  readonly requireManifest: boolean;
}

function pick(doc: Record<string, unknown>, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function asText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  // ObjectId and similar: their string form is the id.
  if (v && typeof v === 'object' && typeof (v as { toHexString?: () => string }).toHexString === 'function') {
    return (v as { toHexString: () => string }).toHexString();
  }
  return undefined;
}

/** Maps and validates one catalogue document. */
export function fromDocument(doc: Record<string, unknown>, map: FieldMapping, rules: ValidationRules): Candidate | Skipped {
  const rawId = asText(pick(doc, map.classId));
  const id = classIdSchema.safeParse(rawId);
  if (!id.success) return { classId: String(rawId ?? '?'), reason: `invalid class id in field ${map.classId}: ${id.error.issues[0]?.message ?? 'missing'}` };
  const classId = id.data;
  if (pick(doc, map.test) === true) return { classId, reason: `test class (${map.test} is true)` };
  const status = asText(pick(doc, map.status));
  if (status && rules.skipStatuses.includes(status)) return { classId, reason: `status is ${status}` };
  const manifestValue = pick(doc, map.manifest);
  const manifest = typeof manifestValue === 'string' && manifestValue.trim() ? manifestValue.trim() : undefined;
  if (!manifest && rules.requireManifest) return { classId, reason: `no manifest (field ${map.manifest} is empty)` };
  const recordedAt = asDate(pick(doc, map.recordedAt));
  const updatedAt = asDate(pick(doc, map.updatedAt));
  const changedAt = updatedAt && (!recordedAt || updatedAt > recordedAt) ? updatedAt : recordedAt;
  return { classId, manifest, recordedAt, changedAt, origin: 'catalogue' };
}

/** A date field as a Date, or undefined when absent or unreadable. */
function asDate(v: unknown): Date | undefined {
  const d = v instanceof Date ? v : typeof v === 'string' || typeof v === 'number' ? new Date(v) : undefined;
  return d && !Number.isNaN(d.getTime()) ? d : undefined;
}

/** True for a skip, false for a candidate. */
export function isSkipped(x: Candidate | Skipped): x is Skipped {
  return 'reason' in x;
}

/**
 * Turns a discovery pattern such as `{classId}/master.m3u8` or
 * `recordings/*\/{classId}/index.m3u8` into a matcher of source paths that
 * returns the class id, or undefined. `*` is one path segment, `**` any number.
 */
export function patternMatcher(pattern: string): (path: string) => string | undefined {
  if (!pattern.includes('{classId}')) throw new Error('the discovery pattern must contain {classId}');
  const parts = pattern.split(/(\{classId\}|\*\*|\*)/).filter((p) => p !== '');
  const source = parts
    .map((p) => (p === '{classId}' ? '(?<classId>[^/]+)' : p === '**' ? '.*' : p === '*' ? '[^/]+' : p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  const re = new RegExp(`^${source}$`);
  return (path) => {
    const id = re.exec(path)?.groups?.classId;
    if (!id) return undefined;
    try {
      return classIdSchema.parse(decodeURIComponent(id));
    } catch {
      return undefined;
    }
  };
}
