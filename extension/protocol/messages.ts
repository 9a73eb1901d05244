/**
 * The one protocol between the extension host and the webview. Both sides import only this file (and the
 * plain data types it re-exports), so the compiler ties every request to its reply.
 */
import type { ActivationStatistic } from '../activations/activationStats';
import type { BlockOutcome } from '../engine/blockDiagnostics';
import type { LiftOverlaps, SaliencyMethod } from '../engine/saliencyTypes';
import type { HistogramSummary, TensorStats } from '../engine/statsTypes';
import type { Tile, TileRect } from '../engine/tiles';
import type { TileReducer } from '../engine/wasmCore';
export type { HistogramSummary, TensorStats, QuantileKey } from '../engine/statsTypes';
export type { BlockAnalysis, ScaleDistribution } from '../engine/blocksTypes';
export type { BlockOutcome } from '../engine/blockDiagnostics';
import type { ModuleKind } from '../compare/modules';
import type { DeltaHistogram, LowRankSummary, MergeTensorStats, PairStats } from '../engine/diffTypes';
import type { MergeMethod } from '../merge/methods';
export type { DeltaHistogram, LowRankSummary, MergeTensorStats, PairStats } from '../engine/diffTypes';
export type { ModuleKind } from '../compare/modules';
export type { MergeMethod } from '../merge/methods';
export { QUANTILE_KEYS } from '../engine/statsTypes';
export { MODULE_KINDS } from '../compare/modules';
export { independentTrainings, INDEPENDENT_TRAININGS_NOTICE } from '../compare/verdict';
export { defaultParams, MERGE_METHODS, METHOD_PARAMS } from '../merge/methods';
export type { ActivationStatistic } from '../activations/activationStats';
export type { SaliencyMethod } from '../engine/saliencyTypes';
export { DEFAULT_RANK, SALIENCY_METHODS } from '../engine/saliencyTypes';

export interface ProblemInfo {
  code: string;
  message: string;
}

export interface CheckpointSummary {
  format: string;
  /** Display name of what was opened (file or index). */
  title: string;
  files: { path: string; bytes: number }[];
  metadata: Record<string, string>;
  tensorCount: number;
  totalBytes: number;
  totalParams: number;
  paramsByDtype: Record<string, number>;
  /** Security notes from the reader (pickle globals that would run code when loaded with torch.load). */
  findings: { code: string; message: string; file: string }[];
}

export interface TensorRow {
  id: number;
  name: string;
  dtype: string;
  shape: number[];
  params: number;
  bytes: number;
  file: string;
  offset: number;
  /** A block-quantized (GGUF) dtype: the Blocks tab applies. */
  quantized: boolean;
  problem: ProblemInfo | null;
  /** Set when the tensor is a factor of a LoRA pair: the name of the weight the pair adapts. */
  loraPair?: string;
  /** Element strides when the tensor is not stored row-major and contiguous (byte offsets of elements need them). */
  strides?: number[];
  /** The bytes sit in a compressed entry: `offset` counts within the decompressed entry. */
  deflated?: boolean;
}

/** Statistics of one tensor as they stream in; `error` set when that tensor could not be analysed. */
export interface StatsRecord {
  id: number;
  stats: TensorStats | null;
  error: ProblemInfo | null;
}

export type ScanState = 'idle' | 'running' | 'done' | 'cancelled' | 'failed';

export interface ScanProgress {
  state: ScanState;
  doneTensors: number;
  totalTensors: number;
  doneBytes: number;
  totalBytes: number;
}

/** One side of a comparison. */
export interface DiffSide {
  path: string;
  title: string;
  format: string;
  tensorCount: number;
  /** LoRA pairs found by name. */
  loraPairs: number;
  /** The adapter_config.json used for LoRA scales, if any. */
  adapterConfig: string | null;
}

/** A compared pair: the first side's name, shape and where it sits in the model. */
export interface DiffRow {
  id: number;
  name: string;
  nameB: string;
  shape: number[];
  dtypeA: string;
  dtypeB: string;
  params: number;
  layer: number | null;
  kind: ModuleKind;
  /** Whether a low-rank analysis applies (a matrix delta). */
  matrix: boolean;
  /** For LoRA deltas: the scales used on each side, and where they came from. */
  lora: { scaleA: number; sourceA: string; scaleB: number; sourceB: string } | null;
}

export interface MismatchRow {
  name: string;
  shapeA: number[];
  shapeB: number[];
  dtypeA: string;
  dtypeB: string;
}

export interface DiffSummary {
  a: DiffSide;
  b: DiffSide;
  /** 'lora': adapters compared as their ΔW; 'tensors': as stored. */
  mode: 'tensors' | 'lora';
  onlyA: string[];
  onlyB: string[];
  mismatched: MismatchRow[];
}

/** One pair's statistics as they stream in. */
export interface PairRecord {
  id: number;
  stats: PairStats | null;
  error: ProblemInfo | null;
}

/** A LoRA pair of the open checkpoint as the delta it stands for. */
export interface LoraDeltaInfo {
  module: string;
  convention: string;
  rank: number;
  shape: number[];
  scale: number;
  scaleSource: string;
  /** The other factor's tensor name. */
  factors: [string, string];
  frobenius: number | null;
  maxAbs: number | null;
  histogram: DeltaHistogram;
  lowRank: LowRankSummary | null;
}

export interface MergeModelInfo {
  path: string;
  title: string;
}

/** A merge being set up: inputs chosen so far and what the preview computes per tensor. */
export interface MergeSetup {
  base: MergeModelInfo | null;
  models: MergeModelInfo[];
  method: MergeMethod;
  /** Effective parameters of the last preview (or the method's defaults). */
  params: Record<string, number>;
  /** Tensors of the base, in order (empty until a preview ran). */
  rows: { id: number; name: string; shape: number[]; dtype: string; layer: number | null; kind: ModuleKind }[];
  records: MergeRecord[];
  progress: ScanProgress;
  /** Why the last preview could not run. */
  problem: ProblemInfo | null;
}

export interface MergeRecord {
  id: number;
  stats: MergeTensorStats | null;
}

export type OpenResponse =
  | { kind: 'checkpoint'; summary: CheckpointSummary; tensors: TensorRow[]; records: StatsRecord[]; progress: ScanProgress }
  | { kind: 'error'; file: string; problem: ProblemInfo }
  | { kind: 'diff'; summary: DiffSummary; rows: DiffRow[]; records: PairRecord[]; progress: ScanProgress }
  | { kind: 'merge'; setup: MergeSetup };

/** A tile as the webview asks for it (half-open source ranges of the matrix view, cells, reducer), and the reply. */
export type TileQuery = TileRect;
export type TileReply = Tile;
export type { TileReducer };

export interface ChannelInfo {
  index: number;
  absmax: number;
  rms: number | null;
  kurtosis: number | null;
}

export interface ScalarInfo {
  row: number;
  col: number;
  value: number;
  z: number | null;
}

/** The outlier analysis of one tensor (rows = dim 0, columns = the product of the rest). */
export interface OutlierSummary {
  rowRatio: number | null;
  colRatio: number | null;
  rowMedian: number | null;
  colMedian: number | null;
  meanAbs: number | null;
  stdAbs: number | null;
  topRows: ChannelInfo[];
  topCols: ChannelInfo[];
  topScalars: ScalarInfo[];
}

export interface OutlierRecord {
  id: number;
  summary: OutlierSummary | null;
  error: ProblemInfo | null;
}

export interface QuantMetricsInfo {
  mse: number | null;
  sqnrDb: number | null;
  maxAbsErr: number | null;
  /** Σ(w − ŵ)² / Σw². */
  damage: number | null;
  /** With imported activation statistics: SQNR and damage of the errors weighted per input channel by H_jj = Σx_j²
   *  (null without them). */
  weighted: { sqnrDb: number | null; damage: number | null } | null;
}

export interface QuantSchemeInfo {
  scheme: string;
  metrics: QuantMetricsInfo;
  kept: { fraction: number; metrics: QuantMetricsInfo }[];
}

export interface QuantRecord {
  id: number;
  /** One entry per scheme that applies to the tensor. */
  results: QuantSchemeInfo[] | null;
  error: ProblemInfo | null;
}

export type AnalysisKind = 'outliers' | 'quant';

export interface AnalysisProgress {
  state: ScanState;
  doneTensors: number;
  totalTensors: number;
  doneBytes: number;
  totalBytes: number;
}

export interface SuperWeightInfo {
  id: number;
  row: number;
  col: number;
  value: number;
  z: number;
}

export interface CrossLayerInfo {
  /** The width the channel indices refer to (the most common column count). */
  width: number;
  channels: { index: number; echoes: { id: number; axis: 'row' | 'col'; ratio: number }[] }[];
}

/** Everything the model-wide Outliers view shows. */
export interface OutlierView {
  progress: AnalysisProgress;
  records: OutlierRecord[];
  superWeights: SuperWeightInfo[];
  crossLayer: CrossLayerInfo;
}

/** Everything the model-wide Quantization view shows for the schemes last run. */
export interface QuantView {
  progress: AnalysisProgress;
  schemes: string[];
  records: QuantRecord[];
}

/** The activation statistics imported for a checkpoint, as the Saliency tab shows them. */
export interface ActivationsSummary {
  file: string;
  format: string;
  metadata: Record<string, string>;
  entries: number;
  /** Weights that have statistics of the right length. */
  matched: number;
  /** Entry names that match no weight, in file order. */
  unmatched: string[];
  /** Weights matched by name whose statistics do not fit them, with why. */
  mismatched: { name: string; reason: string }[];
  /** The statistics the file holds, and the methods they serve. */
  statistics: ActivationStatistic[];
  methods: SaliencyMethod[];
  /** Notes about the file (unsafe pickle globals, …). */
  notes: string[];
}

export interface SaliencyQuery {
  id: number;
  method: SaliencyMethod;
  /** SmoothQuant's migration strength. */
  alpha: number;
  /** LIFT's rank r (default 8). */
  rank?: number;
}

/** LIFT's principal weights against the largest weights and, with a base chosen, the largest changes. */
export interface LiftDetail {
  rank: number;
  /** Counts of the principal weights and of those also in the top 5 % by |W| and by |W − W_base|. */
  overlaps: LiftOverlaps | null;
  /** The base checkpoint chosen for this document, and why its tensor cannot be compared when it cannot. */
  base: string | null;
  baseProblem: string | null;
}

/** One weight's saliency: rankings (non-finite scores null) and the per-column vectors behind the charts. */
export interface SaliencyDetail {
  method: SaliencyMethod;
  rows: number;
  cols: number;
  topChannels: { index: number; score: number | null }[];
  topWeights: { row: number; col: number; score: number | null }[];
  channelScores: Float64Array;
  /** max_i |W_ij| (magnitude, SmoothQuant). */
  columnAbsmax: Float64Array | null;
  /** The activation statistic a_j used, and where it came from. */
  activations: Float64Array | null;
  entry: string | null;
  /** Input channels that stand out in the weights' outlier analysis (absmax ≥ 3 × the median), largest first;
   *  null when that analysis failed. */
  outlierChannels: number[] | null;
  /** LIFT only. */
  lift: LiftDetail | null;
}

export interface SaliencyOutcome {
  detail: SaliencyDetail | null;
  error: ProblemInfo | null;
}

/** Webview → host requests, each with its reply type. */
export interface HostApi {
  open: { req: Record<string, never>; res: OpenResponse };
  rescan: { req: Record<string, never>; res: null };
  cancel: { req: Record<string, never>; res: null };
  histogram: { req: { id: number }; res: HistogramSummary | null };
  /** Block diagnostics of a quantized tensor (computed once per document). */
  blocks: { req: { id: number }; res: BlockOutcome };
  copyText: { req: { text: string }; res: null };
  exportStats: { req: { format: 'json' | 'csv' }; res: null };
  /** The ΔW of the LoRA pair a tensor of the open checkpoint belongs to (null: not a LoRA factor). */
  loraDelta: { req: { id: number }; res: LoraDeltaInfo | null };
  /** Diff panel: one pair's delta histogram, and its leading singular values on demand. */
  deltaHistogram: { req: { id: number }; res: DeltaHistogram | null };
  lowRank: { req: { id: number; k: number }; res: LowRankSummary };
  /** Diff panel: a heatmap tile of pair `id`'s delta B − A (cancel with `cancelTile`). */
  deltaTile: { req: TileQuery & { id: number; channel: string }; res: TileReply };
  /** Diff panel: compare LoRA adapters as stored tensors or as their ΔW (reruns the comparison). */
  diffMode: { req: { mode: 'tensors' | 'lora' }; res: OpenResponse };
  /** Merge panel: choose inputs (file dialogs), preview a method, export. */
  mergeChoose: { req: { what: 'base' | 'models' | 'clear' }; res: MergeSetup };
  mergePreview: { req: { method: MergeMethod; params: Record<string, number> }; res: MergeSetup };
  mergeExport: { req: { what: 'model' | 'masks' | 'mergekit' }; res: { path: string } | null };
  /** Merge panel: a mask heatmap tile of tensor `id` (how many tasks keep each weight; cancel with `cancelTile`). */
  mergeTile: { req: TileQuery & { id: number; channel: string }; res: TileReply };
  /** A heatmap tile of tensor `id`; a newer request on the same `channel` cancels this one. */
  tile: { req: TileQuery & { id: number; channel: string }; res: TileReply };
  /** Drops the tile request in flight on `channel` (its view went away). */
  cancelTile: { req: { channel: string }; res: null };
  /** The outlier analysis of one tensor (cached). */
  outliers: { req: { id: number }; res: OutlierRecord };
  /** Quantization errors of one tensor under every scheme, with the top 0.1 %/1 % kept (cached). */
  quant: { req: { id: number }; res: QuantRecord };
  /** Starts the model-wide analysis (outliers; quantization under `schemes`) unless it already ran for them. */
  runAnalysis: { req: { kind: AnalysisKind; schemes?: string[]; restart?: boolean }; res: null };
  cancelAnalysis: { req: { kind: AnalysisKind }; res: null };
  outlierView: { req: Record<string, never>; res: OutlierView };
  quantView: { req: Record<string, never>; res: QuantView };
  /** Saves the keep-in-higher-precision list of `scheme` (tensors with SQNR below `thresholdDb`). */
  exportKeepList: { req: { scheme: string; thresholdDb: number; format: 'llm-compressor' | 'llama-quantize' }; res: null };
  /** The activation statistics imported for this checkpoint, if any. */
  activations: { req: Record<string, never>; res: ActivationsSummary | null };
  /** Asks for a statistics file and imports it (null when the user cancels). */
  importActivations: { req: Record<string, never>; res: ActivationsSummary | null };
  /** Saliency of one weight by one method (cached per document). */
  saliency: { req: SaliencyQuery; res: SaliencyOutcome };
  /** Asks for a base checkpoint for LIFT's delta overlap (the file, or null when cancelled). */
  chooseSaliencyBase: { req: Record<string, never>; res: string | null };
}

/** Host → webview notifications. */
export type HostEvent =
  | { type: 'diffProgress'; records: PairRecord[]; progress: ScanProgress }
  | { type: 'mergeProgress'; records: MergeRecord[]; progress: ScanProgress }
  | { type: 'scanProgress'; records: StatsRecord[]; progress: ScanProgress }
  | { type: 'focusTensor'; name: string }
  | { type: 'analysisProgress'; kind: AnalysisKind; progress: AnalysisProgress }
  | { type: 'activations'; summary: ActivationsSummary | null }
  /** The base LIFT compares with changed (chosen in the tab or by Compare with Base). */
  | { type: 'saliencyBase'; file: string };

export type HostMethod = keyof HostApi & string;

export type Envelope =
  | { kind: 'req'; id: number; method: HostMethod; params: unknown }
  | { kind: 'res'; id: number; ok: true; result: unknown }
  | { kind: 'res'; id: number; ok: false; error: ProblemInfo }
  | { kind: 'evt'; event: HostEvent };
