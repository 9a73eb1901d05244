/**
 * The one TypeScript file that knows the WASM ABI (wasm/ABI.md): export names, dtype codes, status codes and the
 * layout of every result record. Everything else uses the typed API below.
 */
import type { BlockAnalysis, ScaleDistribution } from './blocksTypes';
import type { DeltaHistogram, LowRankSummary, MergeTensorStats, PairAnalysis } from './diffTypes';
import type { SaliencyAnalysis, StreamedMethod } from './saliencyTypes';
import { QUANTILE_KEYS, type HistogramSummary, type TensorStats } from './statsTypes';

const ABI_VERSION = 7;
const INPUT_SLOTS = 16;

/** ABI dtype codes: position in the core's list, from 1. */
const DTYPE_CODES: Readonly<Record<string, number>> = Object.fromEntries(
  ['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ', 'F6_E2M3', 'F6_E3M2', 'F4',
    'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL',
    'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_K', 'IQ2_XXS', 'IQ2_XS', 'IQ3_XXS',
    'IQ1_S', 'IQ4_NL', 'IQ3_S', 'IQ2_S', 'IQ4_XS', 'IQ1_M', 'TQ1_0', 'TQ2_0', 'MXFP4', 'NVFP4', 'Q1_0', 'Q2_0',
  ].map((name, i) => [name, i + 1]),
);

interface Exports {
  memory: WebAssembly.Memory;
  ws_abi_version(): number;
  ws_input(slot: number, len: number): number;
  ws_job_push(handle: number): number;
  ws_job_end_pass(handle: number): number;
  ws_job_finish(handle: number): number;
  ws_job_record(handle: number): number;
  ws_job_output_len(handle: number): number;
  ws_job_output(handle: number): number;
  ws_job_free(handle: number): void;
  ws_error_len(): number;
  ws_error(): number;
  ws_stats_new(code: number): number;
  ws_stats_merge(into: number, from: number): number;
  ws_diff_new(a: number, b: number): number;
  ws_lowrank_new(a: number, b: number, rows: number, cols: number, k: number, oversample: number, powerIterations: number, seed: number): number;
  ws_lora_new(a: number, b: number, rank: number, inputs: number, outputs: number, layouts: number, scale: number): number;
  ws_lora_tile(handle: number, first: number, count: number, slot: number): number;
  ws_stage_delta(a: number, b: number): number;
  ws_maskcount_new(method: number, tasks: number, dtypes0: number, dtypes1: number, dtypes2: number, first: number, lambda: number,
    density: number, drop: number, beta: number, gamma: number, k: number, seed: number, nameHashHi: number, nameHashLo: number): number;
  ws_maskcount_cut(handle: number, task: number, keepHi: number, keepLo: number, dropHi: number, dropLo: number): number;
  ws_maskcount_stage(handle: number): number;
  ws_merge_new(method: number, tasks: number, dtypes0: number, dtypes1: number, dtypes2: number, elements: number, lambda: number,
    density: number, drop: number, beta: number, gamma: number, k: number, seed: number, nameHashHi: number, nameHashLo: number,
    outputs: number): number;
  ws_tile_new(dtype: number, cols: number, rowBegin: number, rowEnd: number, colBegin: number, colEnd: number, outRows: number,
    outCols: number, outFirst: number, outLast: number, reducer: number, segStart: number, segLen: number, skip: number): number;
  ws_channels_new(dtype: number, rows: number, cols: number, k: number): number;
  ws_quant_new(dtype: number, rows: number, cols: number, schemes: number, keep: number): number;
  ws_blocks_new(code: number, rows: number, rowBlocks: number, gridRows: number, gridCols: number): number;
  ws_decode_new(code: number): number;
  ws_saliency_new(code: number, rows: number, cols: number, method: number, alpha: number, k: number): number;
  ws_lift_new(code: number, base: number, rows: number, cols: number, rank: number, k: number, overlaps: number): number;
}

export class WasmCoreError extends Error {
  constructor(
    readonly code: 'UNSUPPORTED_DTYPE' | 'INVALID_ARGUMENT' | 'WASM_ERROR',
    message: string,
  ) {
    super(message);
    this.name = 'WasmCoreError';
  }
}

/** A job in the core: push staged input slots, end passes until final, then read its record. */
export class WasmJob {
  constructor(
    protected readonly core: WasmCore,
    readonly handle: number,
  ) {}

  /** Consumes the staged input slots (each as long as its last `input` call made it). */
  push(): void {
    this.core.check(this.core.exports.ws_job_push(this.handle), 'push');
  }

  /** Ends a pass: true when the same bytes must be streamed once more, false when the results are final. */
  endPass(): boolean {
    return this.core.check(this.core.exports.ws_job_end_pass(this.handle), 'end of pass') === 1;
  }

  /** The result record (a copy), once the last pass has ended. */
  record(): Float64Array {
    const len = this.core.check(this.core.exports.ws_job_finish(this.handle), 'result');
    const ptr = this.core.exports.ws_job_record(this.handle);
    return new Float64Array(this.core.exports.memory.buffer, ptr, len).slice();
  }

  /** The bytes the last push produced; valid until the next call into the core. */
  output(): Uint8Array {
    const len = this.core.exports.ws_job_output_len(this.handle);
    return new Uint8Array(this.core.exports.memory.buffer, this.core.exports.ws_job_output(this.handle), len);
  }

  dispose(): void {
    this.core.exports.ws_job_free(this.handle);
  }
}

export class StatsJob extends WasmJob {
  /** Adds another job's accumulated state (same dtype, first pass) into this one. */
  merge(other: StatsJob): void {
    this.core.check(this.core.exports.ws_stats_merge(this.handle, other.handle), 'merge');
  }

  /** Final statistics and display histograms. */
  result(): { stats: TensorStats; histogram: HistogramSummary } {
    return decodeStatsRecord(this.record());
  }
}

export class DiffJob extends WasmJob {
  result(): PairAnalysis {
    return decodeDiffRecord(this.record());
  }
}

export class LowRankJob extends WasmJob {
  result(): LowRankSummary {
    return decodeLowRankRecord(this.record());
  }
}

export class LoraJob extends WasmJob {
  /** Stages rows [first, first + count) of ΔW in input slot `slot` as little-endian F64. */
  tileInto(first: number, count: number, slot: number): void {
    this.core.check(this.core.exports.ws_lora_tile(this.handle, first, count, slot), 'LoRA tile');
  }
}

export class MergeJob extends WasmJob {
  result(): MergeTensorStats {
    return decodeMergeRecord(this.record());
  }
}

export class MaskCountJob extends WasmJob {
  /** Stages in slot 0 (F64) how many tasks keep each element of slots 1 (base), 2, 3, … (tasks). */
  stage(): void {
    this.core.check(this.core.exports.ws_maskcount_stage(this.handle), 'mask counts');
  }
}

/** Merge methods as the core numbers them. */
export const MERGE_METHOD_CODES = { 'task-arithmetic': 1, ties: 2, dare: 3, breadcrumbs: 4, tall: 5, consensus: 6 } as const;

export interface MergeJobParams {
  method: keyof typeof MERGE_METHOD_CODES;
  /** Base first, then one per task. */
  dtypes: readonly string[];
  elements: number;
  lambda: number;
  density: number;
  drop: number;
  beta: number;
  gamma: number;
  k: number;
  seed: number;
  /** FNV-1a 64 of the tensor name (DARE masks differ per tensor). */
  nameHash: bigint;
  outputs: { merged: boolean; masks: boolean };
}

/** A tile job's parameters (wasm/ABI.md, ws_tile_new). */
export interface TileJobSpec {
  cols: number;
  rows: readonly [number, number];
  columns: readonly [number, number];
  size: readonly [number, number];
  outRows: readonly [number, number];
  reducer: TileReducer;
  segment: readonly [number, number];
  skip: number;
}

export type TileReducer = 'mean' | 'absmax' | 'min' | 'max';
const REDUCER_CODES: Readonly<Record<TileReducer, number>> = { mean: 0, absmax: 1, min: 2, max: 3 };

/** A finished tile part: `rows × cols` cells (NaN = null) and the marginal totals. */
export interface TileCells {
  rows: number;
  cols: number;
  values: Float64Array;
  rowAbsmax: Float64Array;
  rowSquares: Float64Array;
  rowCount: Float64Array;
  colAbsmax: Float64Array;
  colSquares: Float64Array;
  colCount: Float64Array;
}

export class TileJob extends WasmJob {
  constructor(core: WasmCore, handle: number, private readonly rows: number, private readonly cols: number) {
    super(core, handle);
  }

  result(): TileCells {
    const r = this.record();
    const { rows, cols } = this;
    if (r.length !== rows * cols + 3 * rows + 3 * cols) throw new WasmCoreError('WASM_ERROR', `tile record of ${r.length} slots for ${rows} × ${cols}`);
    let at = 0;
    const take = (n: number): Float64Array => r.subarray(at, (at += n));
    return {
      rows, cols, values: take(rows * cols), rowAbsmax: take(rows), rowSquares: take(rows), rowCount: take(rows),
      colAbsmax: take(cols), colSquares: take(cols), colCount: take(cols),
    };
  }
}

/** One row or column in a ranking. */
export interface ChannelEntry {
  index: number;
  absmax: number;
  rms: number;
  /** Excess kurtosis; NaN when undefined. */
  kurtosis: number;
}

export interface ScalarEntry {
  row: number;
  col: number;
  value: number;
  /** (|value| − mean|W|) / std|W|; NaN when undefined. */
  z: number;
}

/** The outlier analysis of one matrix (NaN = undefined). */
export interface ChannelSummary {
  count: number;
  meanAbs: number;
  stdAbs: number;
  rowMedian: number;
  colMedian: number;
  rowRatio: number;
  colRatio: number;
  topRows: ChannelEntry[];
  topCols: ChannelEntry[];
  topScalars: ScalarEntry[];
}

export class ChannelsJob extends WasmJob {
  result(): ChannelSummary {
    const r = this.record();
    const [rows, cols, scalars] = [r[7]!, r[8]!, r[9]!];
    if (r.length !== 10 + 4 * (rows + cols + scalars)) throw new WasmCoreError('WASM_ERROR', `channel record of ${r.length} slots`);
    const channel = (at: number): ChannelEntry => ({ index: r[at]!, absmax: r[at + 1]!, rms: r[at + 2]!, kurtosis: r[at + 3]! });
    const at = (i: number): number => 10 + 4 * i;
    return {
      count: r[0]!, meanAbs: r[1]!, stdAbs: r[2]!, rowMedian: r[3]!, colMedian: r[4]!, rowRatio: r[5]!, colRatio: r[6]!,
      topRows: Array.from({ length: rows }, (_, i) => channel(at(i))),
      topCols: Array.from({ length: cols }, (_, i) => channel(at(rows + i))),
      topScalars: Array.from({ length: scalars }, (_, i) => {
        const p = at(rows + cols + i);
        return { row: r[p]!, col: r[p + 1]!, value: r[p + 2]!, z: r[p + 3]! };
      }),
    };
  }
}

/** Quantization schemes in the core's bit order (names as the CLI spells them). */
export const QUANT_SCHEMES = [
  'int8-sym-row', 'int8-sym-g128', 'int4-sym-g32', 'int4-asym-g128', 'int4-asym-g64', 'int3-asym-g64', 'q8_0', 'q4_0',
  'fp8-e4m3-tensor', 'fp8-e4m3-row', 'mxfp4', 'nvfp4',
] as const;
export type QuantScheme = (typeof QUANT_SCHEMES)[number];
/** Fractions of the largest |w| that can be kept in high precision, in the core's bit order. */
export const KEEP_FRACTIONS = [0.001, 0.01] as const;
export type KeepFraction = (typeof KEEP_FRACTIONS)[number];

/** Error sums of one (scheme, kept fraction); `kept` 0 means nothing kept. */
export interface QuantErrorSums {
  scheme: QuantScheme;
  kept: 0 | KeepFraction;
  squared: number;
  maxAbs: number;
  /** Σ a_j (w − ŵ)² when the job had column weights a_j. */
  weightedSquared: number | null;
}

export interface QuantSums {
  /** Finite elements and Σw² over them. */
  count: number;
  signal: number;
  /** Σ a_j w² when the job had column weights a_j. */
  weightedSignal: number | null;
  errors: QuantErrorSums[];
}

export class QuantJob extends WasmJob {
  constructor(core: WasmCore, handle: number, private readonly schemes: QuantScheme[], private readonly kept: (0 | KeepFraction)[]) {
    super(core, handle);
  }

  result(): QuantSums {
    const r = this.record();
    const n = this.schemes.length * this.kept.length;
    // With column weights the record goes on with Σaw² and each Σa(w − ŵ)².
    const weighted = r.length === 3 + 3 * n;
    if (r.length !== 2 + 2 * n && !weighted) throw new WasmCoreError('WASM_ERROR', `quantization record of ${r.length} slots`);
    const errors = this.schemes.flatMap((scheme, s) =>
      this.kept.map((kept, l) => {
        const i = s * this.kept.length + l;
        return { scheme, kept, squared: r[2 + 2 * i]!, maxAbs: r[3 + 2 * i]!, weightedSquared: weighted ? r[3 + 2 * n + i]! : null };
      }));
    return { count: r[0]!, signal: r[1]!, weightedSignal: weighted ? r[2 + 2 * n]! : null, errors };
  }
}

/** Block diagnostics of a quantized tensor (wasm/crates/abi/src/blocks.rs). */
export class BlocksJob extends WasmJob {
  result(): Omit<BlockAnalysis, 'blockBytes'> {
    return decodeBlocksRecord(this.record());
  }
}

export class DecodeJob extends WasmJob {
  /** Decodes the staged input slot 0 and returns a copy of its values. */
  decode(): Float64Array {
    this.push();
    const bytes = this.output();
    return new Float64Array(bytes.slice().buffer);
  }
}

/** Saliency of a weight matrix (wasm/crates/abi/src/saliency.rs). The first push must stage the activation vector
 *  in slot 1 for every method but magnitude. */
export class SaliencyJob extends WasmJob {
  result(): SaliencyAnalysis {
    return decodeSaliencyRecord(this.record());
  }
}

/** LIFT principal weights of a weight matrix (wasm/crates/abi/src/lift.rs): slot 0 the weights, slot 1 the base's
 *  same elements (or empty), every pass. */
export class LiftJob extends WasmJob {
  result(): SaliencyAnalysis {
    return decodeLiftRecord(this.record());
  }
}

/** ABI method codes. */
const SALIENCY_METHOD_CODES: Readonly<Record<StreamedMethod, number>> = { magnitude: 1, wanda: 2, awq: 3, smoothquant: 4, obs: 5 };

export class WasmCore {
  private constructor(readonly exports: Exports) {}

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

  /** A writable view of input slot `slot`, made `len` bytes long; valid until the next call into the core. */
  input(len: number, slot = 0): Uint8Array {
    if (slot < 0 || slot >= INPUT_SLOTS) throw new WasmCoreError('INVALID_ARGUMENT', `input slot ${slot} is out of range`);
    const ptr = this.exports.ws_input(slot, len);
    return new Uint8Array(this.exports.memory.buffer, ptr, len);
  }

  beginStats(dtype: string): StatsJob {
    return new StatsJob(this, this.create(this.exports.ws_stats_new(this.dtypeCode(dtype))));
  }

  beginDiff(a: string, b: string): DiffJob {
    return new DiffJob(this, this.create(this.exports.ws_diff_new(this.dtypeCode(a), this.dtypeCode(b))));
  }

  /** A randomized SVD of D = b − a (a null: D = b), rows × cols, streamed once per pass. */
  beginLowRank(a: string | null, b: string, rows: number, cols: number, k: number, oversample: number, powerIterations: number, seed: number): LowRankJob {
    const code = a === null ? 0 : this.dtypeCode(a);
    return new LowRankJob(this, this.create(this.exports.ws_lowrank_new(code, this.dtypeCode(b), rows, cols, k, oversample, powerIterations, seed)));
  }

  /** Stages B − A (slots 1 and 2, dtypes `a` and `b`) as F64 in slot 0, for a job that reads one stream. */
  stageDelta(a: string, b: string): void {
    this.check(this.exports.ws_stage_delta(this.dtypeCode(a), this.dtypeCode(b)), 'delta');
  }

  /** A LoRA pair: A (slot 0) and B (slot 1) pushed in, then ΔW tiles. `transposed` flags MLX's in × r / r × out. */
  beginLora(a: string, b: string, rank: number, inputs: number, outputs: number, transposed: { a: boolean; b: boolean }, scale: number): LoraJob {
    const layouts = (transposed.a ? 1 : 0) | (transposed.b ? 2 : 0);
    return new LoraJob(this, this.create(this.exports.ws_lora_new(this.dtypeCode(a), this.dtypeCode(b), rank, inputs, outputs, layouts, scale)));
  }

  beginMerge(p: MergeJobParams): MergeJob {
    const [packed, hi, lo] = this.mergeCodes(p);
    const outputs = (p.outputs.merged ? 1 : 0) | (p.outputs.masks ? 2 : 0);
    const handle = this.exports.ws_merge_new(MERGE_METHOD_CODES[p.method], p.dtypes.length - 1, packed[0]!, packed[1]!, packed[2]!, p.elements,
      p.lambda, p.density, p.drop, p.beta, p.gamma, p.k, p.seed, hi, lo, outputs);
    return new MergeJob(this, this.create(handle));
  }

  /** How many tasks keep each element of a merge, from element `first`, with the cuts of the merge's record. */
  beginMaskCount(p: Omit<MergeJobParams, 'elements' | 'outputs'>, first: number, cuts: readonly (readonly [number, number, number, number])[]): MaskCountJob {
    const [packed, hi, lo] = this.mergeCodes(p);
    const handle = this.create(this.exports.ws_maskcount_new(MERGE_METHOD_CODES[p.method], p.dtypes.length - 1, packed[0]!, packed[1]!, packed[2]!, first,
      p.lambda, p.density, p.drop, p.beta, p.gamma, p.k, p.seed, hi, lo));
    const job = new MaskCountJob(this, handle);
    cuts.forEach(([keepHi, keepLo, dropHi, dropLo], t) => this.check(this.exports.ws_maskcount_cut(handle, t, keepHi, keepLo, dropHi, dropLo), 'mask cuts'));
    return job;
  }

  /** Dtype codes packed eight bits each, six per f64, and the name hash's halves. */
  private mergeCodes(p: Pick<MergeJobParams, 'dtypes' | 'nameHash'>): [number[], number, number] {
    const packed = [0, 0, 0];
    p.dtypes.forEach((dtype, slot) => (packed[Math.floor(slot / 6)]! += this.dtypeCode(dtype) * 2 ** (8 * (slot % 6))));
    return [packed, Number(p.nameHash >> 32n), Number(p.nameHash & 0xffffffffn)];
  }

  beginTile(dtype: string, t: TileJobSpec): TileJob {
    const handle = this.exports.ws_tile_new(this.dtypeCode(dtype), t.cols, t.rows[0], t.rows[1], t.columns[0], t.columns[1], t.size[0], t.size[1],
      t.outRows[0], t.outRows[1], REDUCER_CODES[t.reducer], t.segment[0], t.segment[1], t.skip);
    return new TileJob(this, this.create(handle), t.outRows[1] - t.outRows[0], t.size[1]);
  }

  /** Outlier channels and scalars of a `rows × cols` matrix, ranking the top `k`. */
  beginChannels(dtype: string, rows: number, cols: number, k: number): ChannelsJob {
    return new ChannelsJob(this, this.create(this.exports.ws_channels_new(this.dtypeCode(dtype), rows, cols, k)));
  }

  /** Quantization errors of a `rows × cols` matrix under several schemes, optionally keeping the largest |w|. */
  beginQuant(dtype: string, rows: number, cols: number, schemes: readonly QuantScheme[], keep: readonly KeepFraction[]): QuantJob {
    const schemeMask = schemes.reduce((mask, s) => mask | (1 << QUANT_SCHEMES.indexOf(s)), 0);
    const keepMask = keep.reduce((mask, k) => mask | (1 << KEEP_FRACTIONS.indexOf(k)), 0);
    const ordered = QUANT_SCHEMES.filter((s) => schemes.includes(s));
    const kept = [0 as const, ...KEEP_FRACTIONS.filter((k) => keep.includes(k))];
    return new QuantJob(this, this.create(this.exports.ws_quant_new(this.dtypeCode(dtype), rows, cols, schemeMask, keepMask)), ordered, kept);
  }

  /** Block diagnostics of a `rows` × `rowBlocks` blocks tensor, pooled into at most `gridRows` × `gridCols` cells. */
  beginBlocks(dtype: string, rows: number, rowBlocks: number, gridRows: number, gridCols: number): BlocksJob {
    return new BlocksJob(this, this.create(this.exports.ws_blocks_new(this.dtypeCode(dtype), rows, rowBlocks, gridRows, gridCols)));
  }

  /** A job whose every push decodes input slot 0 into f64 values (`decode`). */
  beginDecode(dtype: string): DecodeJob {
    return new DecodeJob(this, this.create(this.exports.ws_decode_new(this.dtypeCode(dtype))));
  }

  /** Saliency of a `rows` × `cols` matrix by `method` (`alpha`: SmoothQuant's migration strength), keeping the
   *  `k` best channels and weights. */
  beginSaliency(dtype: string, rows: number, cols: number, method: StreamedMethod, alpha: number, k: number): SaliencyJob {
    const code = this.dtypeCode(dtype);
    return new SaliencyJob(this, this.create(this.exports.ws_saliency_new(code, rows, cols, SALIENCY_METHOD_CODES[method], alpha, k)));
  }

  /** LIFT of a `rows` × `cols` matrix at `rank`, keeping the `k` best channels and weights; with `overlaps`, the
   *  overlap counts, against a base of dtype `base` when not null. */
  beginLift(dtype: string, base: string | null, rows: number, cols: number, rank: number, k: number, overlaps: boolean): LiftJob {
    const codes = [this.dtypeCode(dtype), base === null ? 0 : this.dtypeCode(base)] as const;
    return new LiftJob(this, this.create(this.exports.ws_lift_new(codes[0], codes[1], rows, cols, rank, k, overlaps ? 1 : 0)));
  }

  /** The ABI code of a dtype; throws UNSUPPORTED_DTYPE for one the core cannot decode. */
  dtypeCode(dtype: string): number {
    const code = DTYPE_CODES[dtype];
    if (code === undefined) throw new WasmCoreError('UNSUPPORTED_DTYPE', `the engine cannot decode dtype ${dtype}`);
    return code;
  }

  /** Turns a constructor's handle into a job handle, or throws with the core's reason. */
  create(handle: number): number {
    if (handle === 0) throw new WasmCoreError('INVALID_ARGUMENT', this.lastError());
    return handle;
  }

  /** Throws with the core's reason when `status` is an error; returns it otherwise. */
  check(status: number, what: string): number {
    if (status < 0) throw new WasmCoreError(status === -4 ? 'INVALID_ARGUMENT' : 'WASM_ERROR', `${what} failed: ${this.lastError()}`);
    return status;
  }

  private lastError(): string {
    const bytes = new Uint8Array(this.exports.memory.buffer, this.exports.ws_error(), this.exports.ws_error_len());
    return new TextDecoder().decode(bytes);
  }
}

/** Statistics record offsets, in f64 slots (wasm/crates/abi/src/stats.rs). */
const HIST_BINS = 128;
const TAIL_KS = [3, 4, 5, 6];
const QUANTILES_AT = 13;
const LINEAR_AT = 22;
const LOG_AT = LINEAR_AT + 2 + HIST_BINS;
const TAILS_AT = LOG_AT + 3 + HIST_BINS;
const STATS_RECORD_LEN = TAILS_AT + 2 * TAIL_KS.length;

function decodeStatsRecord(r: Float64Array): { stats: TensorStats; histogram: HistogramSummary } {
  if (r.length !== STATS_RECORD_LEN) throw new WasmCoreError('WASM_ERROR', `statistics record of ${r.length} slots, expected ${STATS_RECORD_LEN}`);
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

const nanToNull = (x: number): number | null => (Number.isNaN(x) ? null : x);

/** Diff record offsets (wasm/crates/abi/src/diff.rs). */
const DIFF_HEADER = 17;

function decodeDiffRecord(r: Float64Array): PairAnalysis {
  const bins = (r.length - DIFF_HEADER) / 2;
  if (!Number.isInteger(bins) || bins <= 0) throw new WasmCoreError('WASM_ERROR', `diff record of ${r.length} slots`);
  const [n, l2a, l2b, l2d, rel, cosine, maxAbs, changed, bothNonzero, flips, identical] = Array.from(r.subarray(0, 11)) as number[];
  const histogram: DeltaHistogram = {
    log2Lo: r[15]!,
    binsPerOctave: r[16]!,
    positive: Array.from(r.subarray(DIFF_HEADER, DIFF_HEADER + bins)),
    negative: Array.from(r.subarray(DIFF_HEADER + bins)),
    zeros: r[13]!,
    nonFinite: r[14]!,
  };
  return {
    stats: {
      l2_a: nanToNull(l2a!), l2_b: nanToNull(l2b!), l2_delta: nanToNull(l2d!), rel_delta: nanToNull(rel!), cosine: nanToNull(cosine!),
      max_abs_delta: nanToNull(maxAbs!),
      changed_fraction: n! > 0 ? changed! / n! : null,
      sign_flip_fraction: bothNonzero! > 0 ? flips! / bothNonzero! : null,
      identical: identical === 1,
    },
    elements: n!, changed: changed!, signFlips: flips!, bothNonzero: bothNonzero!, histogram,
  };
}

function decodeLowRankRecord(r: Float64Array): LowRankSummary {
  const k = r[0]!;
  if (r.length !== 4 + 2 * k) throw new WasmCoreError('WASM_ERROR', `low-rank record of ${r.length} slots for k = ${k}`);
  return {
    singular_values: Array.from(r.subarray(4, 4 + k)),
    frobenius_squared: r[1]!,
    energy: Array.from(r.subarray(4 + k), nanToNull),
    stable_rank: nanToNull(r[2]!),
    effective_rank: nanToNull(r[3]!),
  };
}

function decodeMergeRecord(r: Float64Array): MergeTensorStats {
  const [n, tasks, kept, conflicts, trimmed, total] = Array.from(r.subarray(0, 6)) as number[];
  if (r.length !== 6 + (tasks! + 1) + 7 * tasks!) throw new WasmCoreError('WASM_ERROR', `merge record of ${r.length} slots for ${tasks} tasks`);
  let at = 6;
  const take = (count: number): number[] => Array.from(r.subarray(at, (at += count)));
  const taskCounts = take(tasks! + 1);
  return {
    elements: n!,
    kept_fraction: n! > 0 ? kept! / (tasks! * n!) : null,
    sign_conflict_fraction: n! > 0 ? conflicts! / n! : null,
    task_counts: taskCounts,
    trimmed_mass: total! > 0 ? trimmed! / total! : null,
    kept_per_task: take(tasks!),
    keep_threshold: take(tasks!).map(nanToNull),
    drop_threshold: take(tasks!).map(nanToNull),
    cut_keys: Array.from({ length: tasks! }, () => take(4) as [number, number, number, number]),
  };
}

/** Block diagnostics record offsets (wasm/crates/abi/src/blocks.rs): a header, three statistics records, the grid. */
const BLOCKS_HEADER_LEN = 18;

function decodeBlocksRecord(r: Float64Array): Omit<BlockAnalysis, 'blockBytes'> {
  const statsAt = (i: number): ScaleDistribution | null => {
    const slice = r.subarray(BLOCKS_HEADER_LEN + i * STATS_RECORD_LEN, BLOCKS_HEADER_LEN + (i + 1) * STATS_RECORD_LEN);
    return slice.every(Number.isNaN) ? null : decodeStatsRecord(slice);
  };
  const at = (i: number): number => r[i]!;
  const [gridRows, gridCols] = [at(14), at(15)];
  const gridAt = BLOCKS_HEADER_LEN + 3 * STATS_RECORD_LEN;
  if (r.length !== gridAt + gridRows * gridCols) throw new WasmCoreError('WASM_ERROR', `block record of ${r.length} slots does not fit its grid`);
  const blocks = at(0);
  const elements = blocks * at(1);
  const saturated = !Number.isNaN(at(10));
  return {
    blockElements: at(1),
    subBlocks: at(2),
    blocks,
    rows: at(3),
    blocksPerRow: at(4),
    scales: { d: statsAt(0), dmin: statsAt(1), subBlock: statsAt(2) },
    scaleEdges: { zero: at(7), subnormal: at(8), nonFinite: at(9) },
    saturation: saturated
      ? { lowestCode: at(12), highestCode: at(13), blocks: at(10), blockFraction: blocks > 0 ? at(10) / blocks : 0, elements: at(11), elementFraction: elements > 0 ? at(11) / elements : 0 }
      : null,
    grid: {
      rows: gridRows,
      cols: gridCols,
      rowsPerCell: at(16),
      blocksPerCell: at(17),
      cells: Array.from({ length: gridRows }, (_, row) =>
        Array.from(r.subarray(gridAt + row * gridCols, gridAt + (row + 1) * gridCols), (v) => (Number.isNaN(v) ? null : v))),
    },
  };
}

/** Saliency record (wasm/crates/abi/src/saliency.rs): a header of 5, the rankings, then the per-column vectors. */
function decodeSaliencyRecord(r: Float64Array): SaliencyAnalysis {
  const [channels, weights, cols, hasAbsmax, hasActivations] = [r[0]!, r[1]!, r[2]!, r[3]!, r[4]!];
  const vectorsAt = 5 + 2 * channels + 3 * weights;
  if (r.length !== vectorsAt + cols * (1 + hasAbsmax + hasActivations)) {
    throw new WasmCoreError('WASM_ERROR', `saliency record of ${r.length} slots does not fit its header`);
  }
  const vector = (k: number): Float64Array => r.slice(vectorsAt + k * cols, vectorsAt + (k + 1) * cols);
  return {
    cols,
    topChannels: Array.from({ length: channels }, (_, i) => ({ index: r[5 + 2 * i]!, score: r[6 + 2 * i]! })),
    topWeights: Array.from({ length: weights }, (_, i) => {
      const at = 5 + 2 * channels + 3 * i;
      return { row: r[at]!, col: r[at + 1]!, score: r[at + 2]! };
    }),
    channelScores: vector(0),
    columnAbsmax: hasAbsmax ? vector(1) : null,
    activations: hasActivations ? vector(1 + hasAbsmax) : null,
    overlaps: null,
  };
}

/** LIFT record (wasm/crates/abi/src/lift.rs): 3 overlap counts (NaN: not computed), then a saliency record. */
function decodeLiftRecord(r: Float64Array): SaliencyAnalysis {
  const [principal, withMagnitude, withDelta] = [r[0]!, r[1]!, r[2]!];
  const overlaps = Number.isNaN(principal) ? null : { principal, withMagnitude, withDelta: Number.isNaN(withDelta) ? null : withDelta };
  return { ...decodeSaliencyRecord(r.subarray(3)), overlaps };
}
