// m3u8-parser ships no types; this declares the part of its manifest flants reads.
declare module 'm3u8-parser' {
  export interface ByteRange {
    length: number;
    offset?: number;
  }
  export interface ParsedSegment {
    uri: string;
    byterange?: ByteRange;
    key?: { method: string; uri?: string };
    map?: { uri: string; byterange?: ByteRange };
    parts?: Array<{ URI?: string; uri?: string; BYTERANGE?: ByteRange; GAP?: boolean }>;
    gap?: boolean;
  }
  export interface ParsedManifest {
    playlists?: Array<{ uri: string; attributes?: Record<string, unknown> }>;
    iFramePlaylists?: Array<{ uri: string }>;
    mediaGroups?: Record<string, Record<string, Record<string, { uri?: string }>>>;
    segments?: ParsedSegment[];
    preloadHints?: Array<{ type: string; uri?: string; URI?: string }>;
    preloadSegment?: ParsedSegment;
    endList?: boolean;
    contentSteering?: { serverUri?: string };
  }
  export class Parser {
    constructor(options?: { uri?: string; mainDefinitions?: Record<string, string> });
    manifest: ParsedManifest;
    push(chunk: string): void;
    end(): void;
    on(event: 'warn' | 'info', listener: (e: { message: string }) => void): void;
    addParser(options: { expression: RegExp; customType: string; dataParser?: (line: string) => unknown; segment?: boolean }): void;
    addTagMapper(options: { expression: RegExp; map: (line: string) => string }): void;
  }
}
