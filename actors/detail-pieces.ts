/**
 * Sizes what a crawl publishes about its refused and skipped URIs so that
 * every message fits NATS max_payload. Item bounds are in characters (URIs
 * and reasons are truncated), but a message's size is in bytes of JSON: a
 * character of a CJK path takes 3, a control character escaped as \u0001
 * takes 6. A review made 200 bounded items into a 291 KB `class details`
 * message, which could not be published, so its class was never reported.
 */
import { MAX_PAYLOAD_BYTES, type Refusal } from '../streams/messages.js';

/** Bytes of items per `class details` message: half of max_payload, the rest for the envelope and any headroom. */
export const DETAIL_PIECE_BYTES = MAX_PAYLOAD_BYTES / 2;
/** What a `class crawled` message may take: its samples are shortened until it fits. */
export const CRAWLED_BYTES = MAX_PAYLOAD_BYTES - 16 * 1024;

const bytesOf = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

/**
 * `list` cut into consecutive pieces of at most `maxItems` items and
 * `maxBytes` bytes of JSON each (an item alone over `maxBytes` goes in a piece
 * of its own). The same list always gives the same pieces: a retried crawl
 * publishes them under the same message IDs, deduplicated.
 */
export function detailPieces(list: readonly Refusal[], maxItems: number, maxBytes = DETAIL_PIECE_BYTES): Refusal[][] {
  const pieces: Refusal[][] = [];
  let piece: Refusal[] = [];
  let bytes = 2;
  for (const item of list) {
    const size = bytesOf(item) + 1;
    if (piece.length > 0 && (piece.length >= maxItems || bytes + size > maxBytes)) {
      pieces.push(piece);
      piece = [];
      bytes = 2;
    }
    piece.push(item);
    bytes += size;
  }
  if (piece.length > 0) pieces.push(piece);
  return pieces;
}

/**
 * `message` with its `refused` and `skipped` samples shortened until its JSON
 * is at most `maxBytes`. The whole lists go in `class details` messages; the
 * samples are only the first few for a quick look, so losing some of them
 * loses nothing, while a message too large to publish loses the class.
 */
export function fitSamples<T extends { refused: readonly Refusal[]; skipped: readonly Refusal[] }>(message: T, maxBytes = CRAWLED_BYTES): T {
  let fitted = message;
  while (bytesOf(fitted) > maxBytes && (fitted.refused.length > 0 || fitted.skipped.length > 0)) {
    fitted = { ...fitted, refused: fitted.refused.slice(0, fitted.refused.length >> 1), skipped: fitted.skipped.slice(0, fitted.skipped.length >> 1) };
  }
  return fitted;
}
