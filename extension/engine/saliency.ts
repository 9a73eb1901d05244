/**
 * Saliency over a checkpoint: which weights a method applies to, which activation statistic each one gets and how
 * it becomes the method's per-channel factor a_j, running the per-tensor jobs on the shared pool, and the
 * `saliency --json` document. Knows nothing about VS Code.
 */
import { matrixShape, type Checkpoint, type TensorEntry } from '../formats/checkpoint';
import { lookupDType } from '../formats/dtypes';
import { describeStatistic, type ActivationStatistic, type ActivationStats } from '../activations/activationStats';
import { matchActivations } from '../activations/matchActivations';
import type { ComputePool, RunOptions } from './computePool';
import type { SaliencyAnalysis, SaliencyMethod, StreamedMethod } from './saliencyTypes';
import type { ActivationInput, ActivationTransform } from './tasks/activations';
import type { SaliencySpec } from './tasks/saliency';
import { commonSkip, tooLarge, type Skip } from './tensorRuns';

export const DEFAULT_TOP = 10;
/** The core's limits: rankings of at most MAX_TOP entries, matrices of at most MAX_COLUMNS columns. */
export const MAX_TOP = 1 << 16;
export const MAX_COLUMNS = 1 << 20;
export const DEFAULT_ALPHA = 0.5;

/** What an activation-aware method multiplies by, and which imported statistics give it, in preference order. */
export const METHOD_SOURCES: Readonly<Record<Exclude<StreamedMethod, 'magnitude'>, { factor: string; sources: readonly { statistic: ActivationStatistic; transform: ActivationTransform }[] }>> = {
  wanda: { factor: '‖X_j‖₂', sources: [{ statistic: 'sumSquares', transform: 'sqrt' }, { statistic: 'l2', transform: 'identity' }] },
  awq: { factor: 'mean|X_j|', sources: [{ statistic: 'meanAbs', transform: 'identity' }] },
  smoothquant: { factor: 'max|X_j|', sources: [{ statistic: 'maxAbs', transform: 'identity' }] },
  obs: { factor: 'H_jj = Σx_j²', sources: [{ statistic: 'sumSquares', transform: 'identity' }, { statistic: 'l2', transform: 'square' }] },
};

export function needsActivations(method: SaliencyMethod): method is keyof typeof METHOD_SOURCES {
  return method in METHOD_SOURCES;
}

/** A weight saliency applies to: at least two dimensions, float or block-quantized values. */
export function isSaliencyWeight(entry: TensorEntry): boolean {
  const kind = lookupDType(entry.dtype)?.kind;
  return entry.shape.length >= 2 && (kind === 'float' || kind === 'quant' || entry.problem !== undefined);
}

/** Why a weight cannot be analysed, or undefined. */
export function saliencySkipReason(entry: TensorEntry): Skip | undefined {
  const common = commonSkip(entry);
  if (common) return common;
  const { cols } = matrixShape(entry.shape);
  return cols > MAX_COLUMNS ? tooLarge(cols, 'columns', MAX_COLUMNS) : undefined;
}

export interface SaliencyTarget {
  /** Index in the checkpoint's tensors. */
  index: number;
  entry: TensorEntry;
  rows: number;
  cols: number;
  activation?: ActivationInput;
  /** The name of the activation entry `activation` comes from. */
  activationEntry?: string;
}

export interface SaliencyPlan {
  /** The weights to analyse, in checkpoint order. */
  targets: SaliencyTarget[];
  /** Weights left out, with why (unreadable, too wide, statistics of another length or kind). */
  skipped: ({ name: string } & Skip)[];
  /** Activation entries that match no weight, in file order ([] without a file). */
  unmatched: string[];
}

/** Why `stats` cannot serve `method` at all (no entry carries a statistic it uses), or undefined. */
export function statisticProblem(method: SaliencyMethod, stats: ActivationStats | undefined): string | undefined {
  if (!needsActivations(method)) return undefined;
  const { factor, sources } = METHOD_SOURCES[method];
  const usable = sources.map((s) => s.statistic);
  if (!stats) return `${method} needs activation statistics (${factor}): pass --activations FILE`;
  if (stats.entries.some((e) => usable.some((s) => e.statistics[s]))) return undefined;
  const held = [...new Set(stats.entries.flatMap((e) => Object.keys(e.statistics) as ActivationStatistic[]))].map(describeStatistic);
  return `${method} needs ${factor} (from ${usable.map(describeStatistic).join(' or ')}), but ${stats.file} holds ${held.join(', ')} only`;
}

/** The activation-aware methods some entry of `stats` serves. */
export function methodsServed(stats: ActivationStats): (keyof typeof METHOD_SOURCES)[] {
  return (Object.keys(METHOD_SOURCES) as (keyof typeof METHOD_SOURCES)[]).filter((m) => statisticProblem(m, stats) === undefined);
}

/** How the entries of `stats` land on the weights of `checkpoint`, whatever the method. */
export function activationFit(checkpoint: Checkpoint, stats: ActivationStats): { matched: number; mismatched: { name: string; reason: string }[]; unmatched: string[] } {
  const match = matchActivations(checkpoint, stats);
  const mismatched: { name: string; reason: string }[] = [];
  let matched = 0;
  for (const [index, e] of match.byTensor) {
    const entry = checkpoint.tensors[index]!;
    const stat = stats.entries[e]!;
    const { cols } = matrixShape(entry.shape);
    if (!isSaliencyWeight(entry)) mismatched.push({ name: entry.name, reason: `"${stat.name}" names a tensor of shape [${entry.shape.join(', ')}], not a weight matrix` });
    else if (stat.length !== cols) mismatched.push({ name: entry.name, reason: lengthReason(stat.name, stat.length, entry) });
    else matched++;
  }
  return { matched, mismatched, unmatched: [...match.unmatched] };
}

function lengthReason(statName: string, length: number, entry: TensorEntry): string {
  return `"${statName}" has ${length} values, but the weight has ${matrixShape(entry.shape).cols} input channels (shape [${entry.shape.join(', ')}])`;
}

/** The weights `method` applies to in `checkpoint`, each with its activation input. */
export function planSaliency(checkpoint: Checkpoint, method: SaliencyMethod, stats?: ActivationStats, include: (name: string) => boolean = () => true): SaliencyPlan {
  const match = stats ? matchActivations(checkpoint, stats) : undefined;
  const plan: SaliencyPlan = { targets: [], skipped: [], unmatched: [...(match?.unmatched ?? [])] };
  checkpoint.tensors.forEach((entry, index) => {
    if (!isSaliencyWeight(entry) || !include(entry.name)) return;
    const { rows, cols } = matrixShape(entry.shape);
    let activation: ActivationInput | undefined;
    let activationEntry: string | undefined;
    if (needsActivations(method)) {
      const e = match?.byTensor.get(index);
      if (e === undefined) {
        plan.skipped.push({ name: entry.name, code: 'NO_STATISTICS', message: `no entry of ${stats!.file} names this weight` });
        return;
      }
      const stat = stats!.entries[e]!;
      const source = METHOD_SOURCES[method].sources.find((s) => stat.statistics[s.statistic]);
      if (!source) {
        plan.skipped.push({ name: entry.name, code: 'NO_STATISTICS', message: `its statistics "${stat.name}" have no ${METHOD_SOURCES[method].factor}` });
        return;
      }
      if (stat.length !== cols) {
        plan.skipped.push({ name: entry.name, code: 'NOT_APPLICABLE', message: lengthReason(stat.name, stat.length, entry) });
        return;
      }
      const vector = stat.statistics[source.statistic]!;
      activation = { location: vector.location, transform: source.transform, ...(vector.divisor !== undefined ? { divisor: vector.divisor } : {}) };
      activationEntry = stat.name;
    }
    const skip = saliencySkipReason(entry);
    if (skip) plan.skipped.push({ name: entry.name, ...skip });
    else plan.targets.push({ index, entry, rows, cols, ...(activation ? { activation, activationEntry } : {}) });
  });
  return plan;
}

export interface SaliencyOptions extends Pick<RunOptions, 'signal' | 'priority' | 'onProgress'> {
  method: SaliencyMethod;
  alpha: number;
  top: number;
  chunkBytes: number;
  /** LIFT: the rank, whether to count the overlaps, and the base's tensor of the same shape. */
  lift?: SaliencySpec['lift'];
}

/** One weight's saliency on the pool; rejects with the task's TaskError. */
export function analyseSaliency(pool: ComputePool, target: SaliencyTarget, options: SaliencyOptions): Promise<SaliencyAnalysis> {
  const { method, alpha, top, chunkBytes, lift, signal, priority, onProgress } = options;
  return pool.run(
    'saliency',
    {
      location: target.entry, rows: target.rows, cols: target.cols, method, alpha, top, chunkBytes,
      ...(target.activation ? { activation: target.activation } : {}), ...(method === 'lift' && lift ? { lift } : {}),
    },
    { signal, priority, onProgress },
  );
}

/** The `saliency --json` document: exactly these keys, in this order; non-finite scores are null. */
export interface SaliencyReport {
  method: SaliencyMethod;
  tensors: {
    name: string;
    top_channels: { index: number; score: number | null }[];
    top_weights: { row: number; col: number; score: number | null }[];
  }[];
  unmatched: string[];
}

function finite(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

export function buildSaliencyReport(method: SaliencyMethod, results: readonly { name: string; analysis: SaliencyAnalysis }[], unmatched: readonly string[]): SaliencyReport {
  return {
    method,
    tensors: results.map(({ name, analysis }) => ({
      name,
      top_channels: analysis.topChannels.map((c) => ({ index: c.index, score: finite(c.score) })),
      top_weights: analysis.topWeights.map((w) => ({ row: w.row, col: w.col, score: finite(w.score) })),
    })),
    unmatched: [...unmatched],
  };
}
