/** What a worker-side task runner gets: the WASM core, file access, cancellation and progress. */
import type { TensorLocation } from '../../formats/checkpoint';
import { FormatError } from '../../formats/formatError';
import { WasmCoreError, type WasmCore } from '../wasmCore';
import { TensorReadError, type FileTable, type ReaderOptions, type TensorReader } from '../tensorReader';

/** Thrown by `checkCancelled` when the host asked the running task to stop. */
export class Cancelled extends Error {}

/** A failure with a stable code, reported to the host as the task's error. */
export class TaskFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A stable code and a message for any failure of a task, as the host reports it. */
export function describeFailure(error: unknown): { code: string; message: string } {
  if (error instanceof TaskFailure || error instanceof WasmCoreError || error instanceof TensorReadError || error instanceof FormatError) {
    return { code: error.code, message: error.message };
  }
  const errno = (error as NodeJS.ErrnoException).code;
  return { code: errno === 'ENOENT' ? 'FILE_NOT_FOUND' : 'READ_ERROR', message: (error as Error).message ?? String(error) };
}

export interface TaskContext {
  readonly core: WasmCore;
  readonly files: FileTable;
  /** Opens a reader of the tensor's logical bytes (close it when done). */
  reader(location: TensorLocation, options?: ReaderOptions): TensorReader;
  /** Throws Cancelled when the host has asked this task to stop; call between chunks. */
  checkCancelled(): void;
  /** Reports bytes processed since the last report (batched before crossing to the host). */
  progress(bytes: number): void;
}
