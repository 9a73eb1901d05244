/**
 * One reader per checkpoint format (netron's model factories): a cheap claim by file name or magic bytes, and an
 * `open` that reads headers only into a `CheckpointPart`. Readers never touch `fs` or `vscode`: they see bytes
 * through the `SourceOpener`, so they run on in-memory test bytes as well as on files.
 */
import type { SourceOpener } from '../source/byteSource';
import type { CheckpointFile, CheckpointFormat, Finding, TensorEntry } from './checkpoint';

/** What one file (or one set of split files) contributes to a checkpoint. */
export interface CheckpointPart {
  readonly files: readonly CheckpointFile[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: readonly TensorEntry[];
  readonly findings?: readonly Finding[];
}

export interface FormatReader {
  readonly format: CheckpointFormat;
  /** Lower-case file name endings this reader claims (".safetensors", ".gguf", …). */
  readonly extensions: readonly string[];
  /** The endings are generic (".bin", ".pt", ".npy": other tools use them too): a file so named is given to this
   *  reader only when no other reader recognizes its content, and a folder uses such files only when it holds no
   *  file of a dedicated format (a Trainer output folder's optimizer.pt beside model.safetensors). */
  readonly generic?: boolean;
  /** True when the first bytes of a file (up to 64) look like this format, whatever its name. */
  sniff(head: Uint8Array): boolean;
  /** Reads the headers of `path`; a reader of split formats opens the sibling files too. */
  open(path: string, opener: SourceOpener): Promise<CheckpointPart>;
  /** For split formats: of a folder's files, those to `open` so that each set opens once (default: all). */
  primaryFiles?(paths: readonly string[]): string[];
}
