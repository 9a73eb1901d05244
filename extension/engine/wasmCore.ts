/**
 * The one TypeScript file that knows the WASM ABI (wasm/ABI.md): export names, dtype codes, status codes and the
 * layout of the result record. Everything else uses the typed API below.
 */
import { QUANTILE_KEYS, type HistogramSummary, type TensorStats } from './statsTypes';

const ABI_VERSION = 1;
const HIST_BINS = 128;
const TAIL_KS = [3, 4, 5, 6];
/** Record offsets, in f64 slots. */
const QUANTILES_AT = 13;
const LINEAR_AT = 22;
const LOG_AT = LINEAR_AT + 2 + HIST_BINS;
const TAILS_AT = LOG_AT + 3 + HIST_BINS;
const RECORD_LEN = TAILS_AT + 2 * TAIL_KS.length;

/** ABI dtype codes: position in the core's list, from 1. */
const DTYPE_CODES: Readonly<Record<string, number>> = Object.fromEntries(
  ['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ', 'F6_E2M3', 'F6_E3M2', 'F4',
    'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL'].map((name, i) => [name, i + 1]),
);

interface Exports {
  memory: WebAssembly.Memory;
  ws_abi_version(): number;
  ws_input(len: number): number;
  ws_stats_new(code: number): number;
  ws_stats_push(handle: number, len: number): number;
  ws_stats_merge(into: number, from: number): number;
  ws_stats_end_pass(handle: number): number;
  ws_stats_result(handle: number): number;
  ws_stats_free(handle: number): void;
}

export class WasmCoreError extends Error {
  constructor(
    readonly code: 'UNSUPPORTED_DTYPE' | 'WASM_ERROR',
    message: string,
  ) {
    super(message);
    this.name = 'WasmCoreError';
  }
}

export interface StatsJob {
  /** Consumes the first `len` bytes of the staging area (whole element groups). */
  push(len: number): void;
  /** Adds another job's accumulated state (same dtype, first pass) into this one. */
  merge(other: StatsJob): void;
  /** Ends a pass: true when the same bytes must be streamed once more (exact quantiles), false when final. */
  endPass(): boolean;
  /** Final results; only after endPass() returned false. */
  result(): { stats: TensorStats; histogram: HistogramSummary };
  dispose(): void;
}

export class WasmCore {
  private constructor(private readonly exports: Exports) {}

  /** Compiles and instantiates the module synchronously (workers and the CLI load it once). */
  static load(wasmBytes: Uint8Array): WasmCore {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(wasmBytes as Uint8Array<ArrayBuffer>), {});
    const exports = instance.exports as unknown as Exports;
    const version = exports.ws_abi_version();
    if (version !== ABI_VERSION) {
      throw new WasmCoreError('WASM_ERROR', `weightscope.wasm speaks ABI ${version}, this host needs ${ABI_VERSION}: rebuild`);
    }
    return new WasmCore(exports);
  }

  supports(dtype: string): boolean {
    return dtype in DTYPE_CODES;
  }

  /** A writable view of `len` bytes of the staging area; valid until the next call into the core. */
  input(len: number): Uint8Array {
    const ptr = this.exports.ws_input(len);
    return new Uint8Array(this.exports.memory.buffer, ptr, len);
  }

  beginStats(dtype: string): StatsJob {
    const code = DTYPE_CODES[dtype];
    const handle = code === undefined ? 0 : this.exports.ws_stats_new(code);
    if (handle === 0) throw new WasmCoreError('UNSUPPORTED_DTYPE', `the engine cannot decode dtype ${dtype}`);
    return new WasmStatsJob(this.exports, handle);
  }
}

class WasmStatsJob implements StatsJob {
  constructor(
    private readonly exports: Exports,
    readonly handle: number,
  ) {}

  push(len: number): void {
    check(this.exports.ws_stats_push(this.handle, len), 'push');
  }

  merge(other: StatsJob): void {
    check(this.exports.ws_stats_merge(this.handle, (other as WasmStatsJob).handle), 'merge');
  }

  endPass(): boolean {
    return check(this.exports.ws_stats_end_pass(this.handle), 'end of pass') === 1;
  }

  result(): { stats: TensorStats; histogram: HistogramSummary } {
    const ptr = this.exports.ws_stats_result(this.handle);
    if (ptr === 0) throw new WasmCoreError('WASM_ERROR', 'results asked for before the last pass ended');
    const r = new Float64Array(this.exports.memory.buffer, ptr, RECORD_LEN).slice();
    const at = (i: number): number => r[i]!;
    const orNull = (i: number): number | null => (Number.isNaN(r[i]!) ? null : r[i]!);
    const quantiles = {} as TensorStats['quantiles'];
    QUANTILE_KEYS.forEach((key, i) => (quantiles[key] = orNull(QUANTILES_AT + i)));
    const stats: TensorStats = {
      count: at(0), mean: orNull(1), std: orNull(2), min: orNull(3), max: orNull(4), absmax: orNull(5), l2: at(6),
      zeros: at(7), nan: at(8), posinf: at(9), neginf: at(10), skewness: orNull(11), kurtosis: orNull(12), quantiles,
    };
    const histogram: HistogramSummary = {
      linear: { lo: at(LINEAR_AT), hi: at(LINEAR_AT + 1), counts: Array.from(r.subarray(LINEAR_AT + 2, LOG_AT)) },
      logAbs: { lo: at(LOG_AT), hi: at(LOG_AT + 1), zeros: at(LOG_AT + 2), counts: Array.from(r.subarray(LOG_AT + 3, TAILS_AT)) },
      tails: TAIL_KS.map((k, i) => ({ k, below: at(TAILS_AT + 2 * i), above: at(TAILS_AT + 2 * i + 1) })),
    };
    return { stats, histogram };
  }

  dispose(): void {
    this.exports.ws_stats_free(this.handle);
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  [-1]: 'unknown job handle',
  [-2]: 'input is not a whole number of elements',
  [-3]: 'the job is in the wrong phase for this call',
};

function check(status: number, what: string): number {
  if (status < 0) throw new WasmCoreError('WASM_ERROR', `${what} failed: ${STATUS_TEXT[status] ?? `status ${status}`}`);
  return status;
}
