/**
 * The one protocol between the extension host and the webview. Both sides import only this file (and the
 * plain data types it re-exports), so the compiler ties every request to its reply.
 */
import type { BlockOutcome } from '../engine/blockDiagnostics';
import type { HistogramSummary, TensorStats } from '../engine/statsTypes';
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
  /** Diff panel: compare LoRA adapters as stored tensors or as their ΔW (reruns the comparison). */
  diffMode: { req: { mode: 'tensors' | 'lora' }; res: OpenResponse };
  /** Merge panel: choose inputs (file dialogs), preview a method, export. */
  mergeChoose: { req: { what: 'base' | 'models' | 'clear' }; res: MergeSetup };
  mergePreview: { req: { method: MergeMethod; params: Record<string, number> }; res: MergeSetup };
  mergeExport: { req: { what: 'model' | 'masks' | 'mergekit' }; res: { path: string } | null };
}

/** Host → webview notifications. */
export type HostEvent =
  | { type: 'diffProgress'; records: PairRecord[]; progress: ScanProgress }
  | { type: 'mergeProgress'; records: MergeRecord[]; progress: ScanProgress }
  | { type: 'scanProgress'; records: StatsRecord[]; progress: ScanProgress }
  | { type: 'focusTensor'; name: string };

export type HostMethod = keyof HostApi & string;

export type Envelope =
  | { kind: 'req'; id: number; method: HostMethod; params: unknown }
  | { kind: 'res'; id: number; ok: true; result: unknown }
  | { kind: 'res'; id: number; ok: false; error: ProblemInfo }
  | { kind: 'evt'; event: HostEvent };
