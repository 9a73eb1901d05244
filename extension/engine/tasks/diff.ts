/**
 * Worker side of a diff: two operands (tensors or LoRA deltas) streamed in lockstep through a WASM diff job, one
 * input slot each, one push per chunk. Tensors of a dtype the core cannot decode are still compared byte for byte.
 */
import type { PairAnalysis } from '../diffTypes';
import { operandDtype, operandElements, streamOperandPasses, type Operand } from './operands';
import { TaskFailure, type TaskContext } from './taskContext';

export interface DiffSpec {
  a: Operand;
  b: Operand;
  /** Bytes per read of the widest operand. */
  chunkBytes: number;
}

export type DiffTaskResult = PairAnalysis;

export async function runDiff(spec: DiffSpec, ctx: TaskContext): Promise<DiffTaskResult> {
  const elements = operandElements(spec.a);
  if (operandElements(spec.b) !== elements) throw new TaskFailure('INVALID_ARGUMENT', 'the two operands differ in element count');
  if (![spec.a, spec.b].every((o) => ctx.core.supports(operandDtype(o)))) return compareBytes(spec, ctx);
  const job = ctx.core.beginDiff(operandDtype(spec.a), operandDtype(spec.b));
  try {
    await streamOperandPasses([spec.a, spec.b], job, ctx, spec.chunkBytes);
    return job.result();
  } finally {
    job.dispose();
  }
}

/** Same dtype and the same bytes, for tensors the core cannot decode (every statistic is then undefined). */
async function compareBytes(spec: DiffSpec, ctx: TaskContext): Promise<DiffTaskResult> {
  const elements = operandElements(spec.a);
  const undefinedStats = (identical: boolean): DiffTaskResult => ({
    stats: { l2_a: null, l2_b: null, l2_delta: null, rel_delta: null, cosine: null, max_abs_delta: null, changed_fraction: null, sign_flip_fraction: null, identical },
    elements, changed: 0, signFlips: 0, bothNonzero: 0,
    histogram: { log2Lo: 0, binsPerOctave: 1, positive: [], negative: [], zeros: 0, nonFinite: 0 },
  });
  if (spec.a.kind !== 'tensor' || spec.b.kind !== 'tensor') throw new TaskFailure('UNSUPPORTED_DTYPE', 'a LoRA factor has a dtype the engine cannot decode');
  const [a, b] = [spec.a.location, spec.b.location];
  if (a.dtype !== b.dtype || a.bytes !== b.bytes) return undefinedStats(false);
  const readers = [ctx.reader(a), ctx.reader(b)];
  try {
    const left = new Uint8Array(Math.min(spec.chunkBytes, a.bytes));
    const right = new Uint8Array(left.length);
    for (let at = 0; at < a.bytes; at += left.length) {
      ctx.checkCancelled();
      const len = Math.min(left.length, a.bytes - at);
      await readers[0]!.read(at, left.subarray(0, len));
      await readers[1]!.read(at, right.subarray(0, len));
      ctx.progress(2 * len);
      if (Buffer.compare(left.subarray(0, len), right.subarray(0, len)) !== 0) return undefinedStats(false);
    }
    return undefinedStats(true);
  } finally {
    readers.forEach((r) => r.close());
  }
}
