/**
 * Comparing two checkpoints on the compute pool: what to compare (tensors, or LoRA deltas), the pairs streamed in
 * lockstep (largest first, results as they arrive), and low-rank analyses on demand. Used by the CLI and the editor.
 */
import { dirname, join } from 'node:path';
import type { AlignedPair, Alignable } from '../compare/align';
import { findLoraPairs, loraScale, type AdapterConfig, type LoraPair, type LoraScale } from '../compare/lora';
import type { Checkpoint, TensorEntry, TensorProblem } from '../formats/checkpoint';
import { matrixShape } from '../formats/checkpoint';
import type { ErrorCode } from '../formats/formatError';
import { FormatError } from '../formats/formatError';
import type { SourceOpener } from '../source/byteSource';
import { TaskError } from './computePool';
import type { LowRankSummary, PairAnalysis } from './diffTypes';
import type { ScanEnd, ScanEngine } from './scanEngine';
import { operandBytes, type Operand } from './tasks/operands';

/** One thing to compare: a stored tensor, or the ΔW of a LoRA pair. */
export interface DiffItem extends Alignable {
  /** How to stream it; absent when its header entry has a problem. */
  readonly operand?: Operand;
  readonly problem?: TensorProblem;
  /** Set for a LoRA delta: the pair and the scale used. */
  readonly lora?: { pair: LoraPair; scale: LoraScale };
}

/** A stored tensor; one of a dtype the core cannot decode can still be compared byte for byte. */
export function tensorItem(t: TensorEntry): DiffItem {
  const readable = !t.problem || t.problem.code === 'UNSUPPORTED_DTYPE';
  return { name: t.name, shape: t.shape, dtype: t.dtype, ...(t.problem ? { problem: t.problem } : {}), ...(readable ? { operand: { kind: 'tensor', location: t } } : {}) };
}

/** Every tensor of the checkpoint as it is stored. */
export function tensorItems(checkpoint: Checkpoint): DiffItem[] {
  return checkpoint.tensors.map(tensorItem);
}

/**
 * The checkpoint with its LoRA pairs replaced by their deltas (named after the adapted weight, in A's position);
 * other tensors stay as they are. Kohya alpha scalars are read through the pool.
 */
export async function loraItems(checkpoint: Checkpoint, engine: ScanEngine, config: AdapterConfig | undefined): Promise<DiffItem[]> {
  const { pairs, others } = findLoraPairs(checkpoint.tensors);
  const items = new Map<TensorEntry, DiffItem>(others.map((t) => [t, tensorItem(t)]));
  for (const pair of pairs) {
    const alphaValue = pair.alpha && !config ? await scalarValue(engine, pair.alpha) : undefined;
    const scale = loraScale(pair, config, alphaValue);
    items.set(pair.a, {
      name: pair.name, shape: pair.shape, dtype: pair.a.dtype, lora: { pair, scale },
      operand: { kind: 'lora', a: pair.a, b: pair.b, rank: pair.rank, rows: pair.rows, cols: pair.cols, transposedA: pair.transposedA, transposedB: pair.transposedB, scale: scale.scale },
    });
  }
  return checkpoint.tensors.flatMap((t) => items.get(t) ?? []);
}

/** The value of a one-element tensor: the mean its statistics report. */
async function scalarValue(engine: ScanEngine, entry: TensorEntry): Promise<number | undefined> {
  if (entry.problem) return undefined;
  const { stats } = await engine.pool.run('stats', { location: entry, chunkBytes: engine.chunkBytes });
  return stats.count === 1 && stats.mean !== null ? stats.mean : undefined;
}

const MAX_CONFIG_BYTES = 1 << 20;

/** `adapter_config.json` beside a checkpoint file (or in its folder), parsed; undefined when there is none. */
export async function findAdapterConfig(checkpointPath: string, opener: SourceOpener): Promise<AdapterConfig | undefined> {
  const folder = (await opener.isDirectory(checkpointPath)) ? checkpointPath : dirname(checkpointPath);
  const path = join(folder, 'adapter_config.json');
  return (await opener.exists(path)) ? readAdapterConfig(path, opener) : undefined;
}

export async function readAdapterConfig(path: string, opener: SourceOpener): Promise<AdapterConfig> {
  if (!(await opener.exists(path))) throw new FormatError('FILE_NOT_FOUND', 'no such adapter config', path);
  const source = await opener.open(path);
  try {
    if (source.size > MAX_CONFIG_BYTES) throw new FormatError('INVALID_ADAPTER_CONFIG', `${source.size} bytes is too large for an adapter config`, path);
    const bytes = new Uint8Array(source.size);
    await source.read(0, bytes);
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch (error) {
      throw new FormatError('INVALID_ADAPTER_CONFIG', `not valid JSON: ${(error as Error).message}`, path);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FormatError('INVALID_ADAPTER_CONFIG', 'not a JSON object', path);
    return { path, json: json as Record<string, unknown> };
  } finally {
    await source.close();
  }
}

/** What became of one pair. */
export type PairOutcome = { analysis: PairAnalysis; problem?: undefined } | { analysis?: undefined; problem: TensorProblem };

export interface CompareCallbacks {
  onPair?(index: number, outcome: PairOutcome): void;
  /** Bytes read so far. */
  onProgress?(doneBytes: number): void;
}

/** Bytes a pair reads. */
export function pairBytes(pair: AlignedPair<DiffItem>): number {
  return (pair.a.operand ? operandBytes(pair.a.operand) : 0) + (pair.b.operand ? operandBytes(pair.b.operand) : 0);
}

/** Compares every pair (same shapes), largest first; outcomes arrive by index as they finish. */
export async function comparePairs(engine: ScanEngine, pairs: readonly AlignedPair<DiffItem>[], callbacks: CompareCallbacks = {}, signal?: AbortSignal): Promise<ScanEnd> {
  const order = pairs.map((pair, index) => ({ pair, index })).sort((x, y) => pairBytes(y.pair) - pairBytes(x.pair) || x.index - y.index);
  let doneBytes = 0;
  const report = (index: number, outcome: PairOutcome): void => {
    if (!signal?.aborted) callbacks.onPair?.(index, outcome);
  };
  await Promise.all(
    order.map(async ({ pair, index }) => {
      if (!pair.a.operand || !pair.b.operand) {
        const problem = pair.a.problem ?? pair.b.problem ?? { code: 'READ_ERROR', message: 'not readable' };
        return report(index, { problem });
      }
      try {
        const analysis = await engine.pool.run('diff', { a: pair.a.operand, b: pair.b.operand, chunkBytes: engine.chunkBytes }, {
          signal,
          onProgress: (bytes) => {
            doneBytes += bytes;
            if (!signal?.aborted) callbacks.onProgress?.(doneBytes);
          },
        });
        report(index, { analysis });
      } catch (error) {
        if (error instanceof TaskError && error.code === 'CANCELLED') return;
        const failure = error instanceof TaskError ? error : new TaskError('READ_ERROR', String(error));
        report(index, { problem: { code: failure.code as ErrorCode, message: failure.message } });
      }
    }),
  );
  return signal?.aborted ? 'cancelled' : 'done';
}

export interface LowRankOptions {
  k?: number;
  oversample?: number;
  powerIterations?: number;
  seed?: number;
  signal?: AbortSignal;
}

export const LOW_RANK_DEFAULTS = { k: 16, oversample: 8, powerIterations: 2, seed: 0 };

/** Whether a pair's delta is a matrix (at least 2-D, more than one row and column). */
export function hasMatrixDelta(shape: readonly number[]): boolean {
  const { rows, cols } = matrixShape(shape);
  return shape.length >= 2 && rows > 1 && cols > 1;
}

/** Leading singular values of b − a (a null: of b alone), viewing the tensors as [dim0, rest]. */
export function lowRank(engine: ScanEngine, a: DiffItem | null, b: DiffItem, options: LowRankOptions = {}): Promise<LowRankSummary> {
  if (!b.operand || (a && !a.operand)) return Promise.reject(new TaskError('UNSUPPORTED_DTYPE', `"${b.name}" cannot be read`));
  const { rows, cols } = matrixShape(b.shape);
  const { k, oversample, powerIterations, seed } = { ...LOW_RANK_DEFAULTS, ...options };
  return engine.pool.run('lowRank', { a: a?.operand ?? null, b: b.operand, rows, cols, k, oversample, powerIterations, seed, chunkBytes: engine.chunkBytes }, { signal: options.signal });
}
