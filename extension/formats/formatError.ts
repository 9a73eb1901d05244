/** Stable error codes. Tests and users key on these strings, so never rename one. */
export type ErrorCode =
  | 'FILE_NOT_FOUND'
  | 'READ_ERROR'
  | 'UNSUPPORTED_FORMAT'
  | 'EMPTY_DIRECTORY'
  | 'HEADER_TOO_SMALL'
  | 'HEADER_TOO_LARGE'
  | 'INVALID_HEADER_LENGTH'
  | 'INVALID_HEADER_START'
  | 'INVALID_UTF8'
  | 'BAD_JSON'
  | 'DUPLICATE_TENSOR'
  | 'INVALID_TENSOR_ENTRY'
  | 'INVALID_METADATA'
  | 'INVALID_SHAPE'
  | 'SIZE_OVERFLOW'
  | 'SIZE_MISMATCH'
  | 'MISALIGNED_SLICE'
  | 'INVALID_OFFSETS'
  | 'INCOMPLETE_BUFFER'
  | 'UNSUPPORTED_DTYPE'
  | 'UNSUPPORTED_LAYOUT'
  | 'INVALID_ARGUMENT'
  | 'INVALID_INDEX'
  | 'MISSING_SHARD'
  | 'MISSING_TENSOR'
  | 'FILE_CHANGED'
  | 'INVALID_ADAPTER_CONFIG'
  | 'INCOMPATIBLE_CHECKPOINTS'
  // Protocol Buffers (ONNX)
  | 'TRUNCATED_MESSAGE'
  | 'INVALID_VARINT'
  | 'INVALID_FIELD_TAG'
  | 'NESTING_TOO_DEEP'
  // ONNX
  | 'INVALID_MODEL'
  | 'TOO_MANY_TENSORS'
  | 'INVALID_EXTERNAL_DATA'
  | 'UNSAFE_EXTERNAL_PATH'
  | 'MISSING_EXTERNAL_DATA'
  | 'EXTERNAL_DATA_OUT_OF_RANGE'
  | 'CANCELLED'
  | 'WASM_ERROR'
  // zip archives (PyTorch, NumPy .npz)
  | 'ZIP_NO_END_RECORD'
  | 'ZIP_INVALID_DIRECTORY'
  | 'ZIP_INVALID_ENTRY'
  | 'ZIP_UNSUPPORTED'
  | 'ZIP_ENTRY_TOO_LARGE'
  // the restricted pickle reader
  | 'PICKLE_TRUNCATED'
  | 'PICKLE_BAD_OPCODE'
  | 'PICKLE_STACK_UNDERFLOW'
  | 'PICKLE_MEMO_MISSING'
  | 'PICKLE_LIMIT'
  | 'PICKLE_INVALID'
  // PyTorch archives
  | 'TORCH_INVALID_ARCHIVE'
  | 'TORCH_INVALID_STORAGE'
  | 'TORCH_LEGACY_INVALID'
  | 'TORCH_MISSING_STORAGE'
  | 'TORCH_STORAGE_SIZE'
  | 'TORCH_INVALID_TENSOR'
  | 'VIEW_OUT_OF_RANGE'
  | 'VIEW_TOO_LARGE'
  // NumPy .npy / .npz
  | 'NPY_INVALID_MAGIC'
  | 'NPY_INVALID_HEADER'
  | 'NPY_TRUNCATED'
  // GGUF
  | 'INVALID_MAGIC'
  | 'UNSUPPORTED_VERSION'
  | 'TRUNCATED_HEADER'
  | 'COUNT_TOO_LARGE'
  | 'INVALID_KEY'
  | 'DUPLICATE_KEY'
  | 'UNKNOWN_VALUE_TYPE'
  | 'INVALID_ALIGNMENT'
  | 'INVALID_TENSOR_INFO'
  | 'TRUNCATED_FILE'
  | 'INVALID_SPLIT'
  // Activation statistics (extension/activations)
  | 'NOT_ACTIVATIONS'
  | 'NO_STATISTICS'
  | 'MISSING_COUNTS'
  | 'INVALID_COUNTS'
  | 'INVALID_NAME'
  | 'INVALID_VALUE_COUNT'
  | 'INVALID_CALL_COUNT'
  | 'LENGTH_MISMATCH'
  | 'TRAILING_DATA'
  | 'ACTIVATIONS_MISMATCH';

/** A malformed or unreadable input. `file` is always set; `tensor` when one tensor is at fault. */
export class FormatError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly file: string,
    readonly tensor?: string,
  ) {
    super(message);
    this.name = 'FormatError';
  }

  /** One line for users: the code, the file, the tensor if any, and what is wrong. */
  describe(): string {
    const where = this.tensor === undefined ? this.file : `${this.file}, tensor "${this.tensor}"`;
    return oneLine(`${this.code}: ${where}: ${this.message}`);
  }
}

/** Characters that end a line or drive a terminal: C0 controls, DEL, C1 controls, Unicode line/paragraph separators. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with its control characters written as escapes (`\n`, `\u001b`): messages quote names and bytes from
 * hostile files, which must neither break a message into several lines nor send escape sequences to a terminal.
 */
export function oneLine(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => NAMED_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
