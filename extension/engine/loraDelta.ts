/** A LoRA pair of an open checkpoint seen as its ΔW: scale, norms, histogram and singular values. */
import { findLoraPairs, type LoraPair } from '../compare/lora';
import type { Checkpoint, TensorEntry } from '../formats/checkpoint';
import type { SourceOpener } from '../source/byteSource';
import type { LoraDeltaInfo } from '../protocol/messages';
import { findAdapterConfig, loraItems } from './diffEngine';
import type { ScanEngine } from './scanEngine';

/** Singular values shown for a LoRA delta: all of them up to this rank (ΔW has rank ≤ r). */
const MAX_SINGULAR_VALUES = 64;

/** The pair a tensor belongs to as one of its factors (or kohya alpha), if any. */
export function pairOf(checkpoint: Checkpoint, entry: TensorEntry): LoraPair | undefined {
  return findLoraPairs(checkpoint.tensors).pairs.find((p) => p.a === entry || p.b === entry || p.alpha === entry);
}

export async function analyzeLoraDelta(engine: ScanEngine, checkpoint: Checkpoint, path: string, opener: SourceOpener, pair: LoraPair, signal?: AbortSignal): Promise<LoraDeltaInfo> {
  const config = await findAdapterConfig(path, opener);
  const item = (await loraItems({ ...checkpoint, tensors: [pair.a, pair.b, ...(pair.alpha ? [pair.alpha] : [])] }, engine, config)).find((i) => i.lora)!;
  const operand = item.operand!;
  const elements = pair.rows * pair.cols;
  const [values, lowRank] = await Promise.all([
    engine.pool.run('diff', { a: { kind: 'zeros', elements }, b: operand, chunkBytes: engine.chunkBytes }, { signal }),
    engine.pool.run('lowRank', {
      a: null, b: operand, rows: pair.rows, cols: pair.cols, k: Math.min(pair.rank, MAX_SINGULAR_VALUES), oversample: 8, powerIterations: 2, seed: 0, chunkBytes: engine.chunkBytes,
    }, { signal }),
  ]);
  return {
    module: pair.module,
    convention: pair.convention,
    rank: pair.rank,
    shape: pair.shape,
    scale: item.lora!.scale.scale,
    scaleSource: item.lora!.scale.source,
    factors: [pair.a.name, pair.b.name],
    frobenius: values.stats.l2_b,
    maxAbs: values.stats.max_abs_delta,
    histogram: values.histogram,
    lowRank,
  };
}
