/**
 * The one narrow interface through which readers see file bytes: positional reads, nothing else.
 * Readers never touch `fs` themselves, so they stay unit-testable on in-memory bytes.
 */
export interface ByteSource {
  /** Path or URI text used in error messages. */
  readonly name: string;
  readonly size: number;
  /** Fills `target` from `offset`; returns the bytes read (short only at end of file). */
  read(offset: number, target: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

/** Opens sibling files (shards named by an index) relative to the opened path. */
export interface SourceOpener {
  open(path: string): Promise<ByteSource>;
  exists(path: string): Promise<boolean>;
  listDirectory(path: string): Promise<string[]>;
  isDirectory(path: string): Promise<boolean>;
}
