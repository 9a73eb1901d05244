/**
 * Quantization-error preview over a checkpoint: which (tensor, scheme) pairs apply, the metrics, the `quant --json`
 * document, the ranking by expected damage, and the "keep in higher precision" exports (llm-compressor `ignore`
 * list, llama-quantize `--tensor-type` overrides). The per-tensor error sums come from the core (tasks/quant.ts).
 */
import { matrixShape, type TensorEntry } from '../formats/checkpoint';
import { lookupDType } from '../formats/dtypes';
import { hfToGgufName } from '../formats/ggufNames';
import type { ComputePool } from './computePool';
import { commonSkip, runTensors, type Skip, type TensorRunOptions } from './tensorRuns';
import { defaultKeepThresholdOf } from './keepRule';
import type { ActivationInput } from './tasks/activations';
import { KEEP_FRACTIONS, QUANT_SCHEMES, type KeepFraction, type QuantScheme, type QuantSums } from './wasmCore';

export { KEEP_FRACTIONS, QUANT_SCHEMES, type KeepFraction, type QuantScheme };

/** Rows longer than this are not simulated (the core buffers one row). */
export const MAX_QUANT_ROW = 1 << 22;
/** Bits per weight of each scheme's elements: what "higher precision" is measured against. */
export const SCHEME_BITS: Readonly<Record<QuantScheme, number>> = {
  'int8-sym-row': 8, 'int8-sym-g128': 8, 'int4-sym-g32': 4, 'int4-asym-g128': 4, 'int4-asym-g64': 4, 'int3-asym-g64': 3,
  q8_0: 8, q4_0: 4, 'fp8-e4m3-tensor': 8, 'fp8-e4m3-row': 8, mxfp4: 4, nvfp4: 4,
};

export function isQuantScheme(name: string): name is QuantScheme {
  return (QUANT_SCHEMES as readonly string[]).includes(name);
}

/** Why a tensor gets no preview at all (undefined: it gets one). Integer and bool tensors are simply not listed. */
export function quantSkipReason(entry: TensorEntry): Skip | undefined {
  const common = commonSkip(entry);
  if (common) return common;
  const { cols } = matrixShape(entry.shape);
  if (cols > MAX_QUANT_ROW) return { code: 'TOO_LARGE', message: `rows of ${cols.toLocaleString('en-US')} elements are longer than the ${MAX_QUANT_ROW.toLocaleString('en-US')} simulated` };
  return undefined;
}

/** Float (or dequantizable) tensors, plus those with a problem so that the editor can say why. */
export function hasQuantPreview(entry: TensorEntry): boolean {
  const kind = lookupDType(entry.dtype)?.kind;
  return kind === 'float' || kind === 'quant' || entry.problem !== undefined;
}

/** Whether a scheme can quantize the tensor: ggml's Q8_0/Q4_0 need a last axis of whole 32-element blocks. */
export function schemeApplies(entry: TensorEntry, scheme: QuantScheme): boolean {
  if (scheme === 'q8_0' || scheme === 'q4_0') {
    const last = entry.shape.length === 0 ? 1 : entry.shape[entry.shape.length - 1]!;
    return last % 32 === 0;
  }
  return true;
}

export interface QuantMetrics {
  mse: number | null;
  sqnr_db: number | null;
  max_abs_err: number | null;
  /** Σ(w − ŵ)² / Σw²: the noise-to-signal ratio the ranking sorts by (null when undefined). */
  damage: number | null;
  /** With column weights a_j = H_jj (imported activation statistics): the same ratio and SQNR over Σa_j(w − ŵ)² and
   *  Σa_j w², the error as it reaches the layer's output (diagonal approximation). */
  weighted?: { sqnr_db: number | null; damage: number | null };
}

function orNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** MSE over the finite elements, SQNR = 10·log10(Σw² / Σ(w − ŵ)²) (null when either is 0), max |w − ŵ|. */
export function quantMetrics(count: number, signal: number, squared: number, maxAbs: number): QuantMetrics {
  if (count === 0) return { mse: null, sqnr_db: null, max_abs_err: null, damage: null };
  return {
    mse: orNull(squared / count),
    sqnr_db: squared > 0 && signal > 0 ? orNull(10 * Math.log10(signal / squared)) : null,
    max_abs_err: orNull(maxAbs),
    damage: signal > 0 ? orNull(squared / signal) : null,
  };
}

/** The metrics of one tensor under one scheme, with nothing kept and with each kept fraction computed. */
export interface SchemeResult {
  scheme: QuantScheme;
  metrics: QuantMetrics;
  kept: { fraction: KeepFraction; metrics: QuantMetrics }[];
}

/** SQNR and damage of column-weighted sums (null when undefined). */
export function weightedMetrics(signal: number, squared: number): NonNullable<QuantMetrics['weighted']> {
  return {
    sqnr_db: squared > 0 && signal > 0 ? orNull(10 * Math.log10(signal / squared)) : null,
    damage: signal > 0 ? orNull(squared / signal) : null,
  };
}

export function schemeResults(sums: QuantSums): SchemeResult[] {
  const schemes = QUANT_SCHEMES.filter((s) => sums.errors.some((e) => e.scheme === s));
  return schemes.map((scheme) => {
    const of = (kept: 0 | KeepFraction) => {
      const e = sums.errors.find((x) => x.scheme === scheme && x.kept === kept)!;
      const metrics = quantMetrics(sums.count, sums.signal, e.squared, e.maxAbs);
      return sums.weightedSignal !== null && e.weightedSquared !== null ? { ...metrics, weighted: weightedMetrics(sums.weightedSignal, e.weightedSquared) } : metrics;
    };
    const kept = KEEP_FRACTIONS.filter((f) => sums.errors.some((e) => e.scheme === scheme && e.kept === f));
    return { scheme, metrics: of(0), kept: kept.map((fraction) => ({ fraction, metrics: of(fraction) })) };
  });
}

export type QuantOutcome =
  | { index: number; results: SchemeResult[]; problem?: undefined }
  | { index: number; results?: undefined; problem: { code: string; message: string } };

export interface QuantRunOptions extends TensorRunOptions<QuantOutcome> {
  schemes: readonly QuantScheme[];
  keep: readonly KeepFraction[];
  /** Column weights of a tensor (index into `entries`) for weighted errors, when it has any. */
  weightsOf?(index: number): ActivationInput | undefined;
  chunkBytes: number;
}

/** Simulates the schemes on the given tensors (indices into `entries`), one task per tensor, largest first. */
export function runQuantPreview(pool: ComputePool, entries: readonly TensorEntry[], indices: readonly number[], options: QuantRunOptions): Promise<Map<number, QuantOutcome>> {
  return runTensors(entries, indices, {
    skipReason: quantSkipReason,
    analyse: async (index, entry, task) => {
      const schemes = options.schemes.filter((s) => schemeApplies(entry, s));
      if (schemes.length === 0) return { index, results: [] };
      const activation = options.weightsOf?.(index);
      const spec = { location: entry, schemes: [...schemes], keep: [...options.keep], chunkBytes: options.chunkBytes, ...(activation ? { activation } : {}) };
      return { index, results: schemeResults(await pool.run('quant', spec, task)) };
    },
    failed: (index, problem) => ({ index, problem }),
  }, options);
}

/**
 * The `quant --json` document: one entry per (tensor, scheme) in checkpoint order then the given scheme order.
 * With `keepOutliers`, each entry also carries `kept`: the same metrics with the top 0.1 % and 1 % of |w| exact.
 */
export function quantDocument(entries: readonly TensorEntry[], outcomes: ReadonlyMap<number, QuantOutcome>, schemes: readonly QuantScheme[], keepOutliers: boolean) {
  const tensors = entries.flatMap((entry, index) => {
    const results = outcomes.get(index)?.results ?? [];
    return schemes.flatMap((scheme) => {
      const r = results.find((x) => x.scheme === scheme);
      if (!r) return [];
      const { mse, sqnr_db, max_abs_err } = r.metrics;
      const row = { name: entry.name, scheme, mse, sqnr_db, max_abs_err };
      if (!keepOutliers) return [row];
      return [{ ...row, kept: r.kept.map(({ fraction, metrics: m }) => ({ fraction, mse: m.mse, sqnr_db: m.sqnr_db, max_abs_err: m.max_abs_err })) }];
    });
  });
  return { tensors };
}

export interface DamageRow {
  index: number;
  name: string;
  scheme: QuantScheme;
  metrics: QuantMetrics;
  kept: SchemeResult['kept'];
}

/** Every (tensor, scheme) result, most damaged first (largest Σe²/Σw²; undefined damage last, then by name). */
export function damageRanking(entries: readonly TensorEntry[], outcomes: ReadonlyMap<number, QuantOutcome>, scheme: QuantScheme): DamageRow[] {
  const rows: DamageRow[] = [];
  for (const [index, outcome] of outcomes) {
    const r = outcome.results?.find((x) => x.scheme === scheme);
    if (r) rows.push({ index, name: entries[index]!.name, scheme, metrics: r.metrics, kept: r.kept });
  }
  return rows.sort((a, b) => (b.metrics.damage ?? -1) - (a.metrics.damage ?? -1) || a.index - b.index);
}

/** SQNR below which a matrix joins the keep list by default (keepRule.ts). */
export function defaultKeepThreshold(entries: readonly TensorEntry[], ranking: readonly DamageRow[]): number | null {
  return defaultKeepThresholdOf(ranking.filter((r) => entries[r.index]!.shape.length >= 2 && r.metrics.sqnr_db !== null).map((r) => r.metrics.sqnr_db!));
}

/** Matrices (≥ 2 dimensions: what quantizers touch) whose SQNR under the scheme is below `thresholdDb`, in
 *  checkpoint order. */
export function keepList(entries: readonly TensorEntry[], ranking: readonly DamageRow[], thresholdDb: number): TensorEntry[] {
  return ranking
    .filter((r) => entries[r.index]!.shape.length >= 2 && r.metrics.sqnr_db !== null && r.metrics.sqnr_db < thresholdDb)
    .sort((a, b) => a.index - b.index)
    .map((r) => entries[r.index]!);
}

/** A module name as llm-compressor targets it: the tensor name without its `.weight` suffix. */
export function moduleName(tensorName: string): string {
  return tensorName.replace(/\.weight$/, '');
}

function header(scheme: QuantScheme, thresholdDb: number, count: number): string {
  return `Weightscope: ${count} tensor(s) with SQNR below ${thresholdDb.toFixed(2)} dB under ${scheme}: keep them in higher precision.`;
}

/** llm-compressor's `ignore` list, as YAML (a recipe fragment) or JSON. */
export function llmCompressorIgnore(tensors: readonly TensorEntry[], scheme: QuantScheme, thresholdDb: number, format: 'yaml' | 'json'): string {
  const names = tensors.map((t) => moduleName(t.name));
  if (format === 'json') return JSON.stringify({ ignore: names }, null, 2) + '\n';
  const items = names.length === 0 ? ' []\n' : `\n${names.map((n) => `  - ${JSON.stringify(n)}\n`).join('')}`;
  return `# ${header(scheme, thresholdDb, names.length)}\nignore:${items}`;
}

/** The type llama-quantize should keep a tensor in: Q8_0 under a sub-8-bit scheme, else the 16-bit float it has. */
export function higherPrecisionType(entry: TensorEntry, scheme: QuantScheme): string {
  if (SCHEME_BITS[scheme] < 8) return 'q8_0';
  return entry.dtype === 'BF16' ? 'bf16' : 'f16';
}

/**
 * llama-quantize per-tensor overrides, one `--tensor-type` argument per line, each an anchored, escaped regular
 * expression (llama-quantize matches with std::regex_search) in single quotes for the shell. `ggufName` maps a
 * checkpoint name to its GGUF name (by default the llama-family HF → llama.cpp table); names it cannot map (GGUF
 * names already, or architectures outside the table) are written as they are.
 */
export function llamaQuantizeOverrides(tensors: readonly TensorEntry[], scheme: QuantScheme, thresholdDb: number, ggufName: (name: string) => string | undefined = hfToGgufName): string {
  const lines = tensors.map((t) => {
    const name = ggufName(t.name) ?? t.name;
    const pattern = `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
    return `--tensor-type '${pattern.replace(/'/g, `'\\''`)}=${higherPrecisionType(t, scheme)}'`;
  });
  return `# ${header(scheme, thresholdDb, lines.length)}\n${lines.join('\n')}${lines.length ? '\n' : ''}`;
}
