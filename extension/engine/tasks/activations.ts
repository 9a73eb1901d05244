/**
 * Activation statistics in a worker: a weight's per-input-channel vector read (any float dtype, any layout), decoded
 * exactly, turned into the factor a job multiplies by, and staged in input slot 1 for the job's first push.
 */
import type { TensorLocation } from '../../formats/checkpoint';
import { elementCount } from '../../formats/checkpoint';
import type { WasmJob } from '../wasmCore';
import { TaskFailure, type TaskContext } from './taskContext';

/** How a stored statistic becomes the factor a_j: a = f(value / divisor). */
export type ActivationTransform = 'identity' | 'sqrt' | 'square';

export interface ActivationInput {
  location: TensorLocation;
  divisor?: number;
  transform: ActivationTransform;
}

const TRANSFORMS: Readonly<Record<ActivationTransform, (x: number) => number>> = {
  identity: (x) => x,
  sqrt: Math.sqrt,
  square: (x) => x * x,
};

/** The factor of every column, decoded exactly and transformed in f64. */
async function readActivations(input: ActivationInput, cols: number, ctx: TaskContext): Promise<Float64Array> {
  if (elementCount(input.location.shape) !== cols) {
    throw new TaskFailure('LENGTH_MISMATCH', `the activation vector has ${elementCount(input.location.shape)} values for ${cols} input channels`);
  }
  const reader = ctx.reader(input.location);
  const decoder = ctx.core.beginDecode(input.location.dtype);
  try {
    await reader.read(0, ctx.core.input(input.location.bytes));
    const values = decoder.decode();
    const transform = TRANSFORMS[input.transform];
    const divisor = input.divisor;
    return values.map((v) => transform(divisor === undefined ? v : v / divisor));
  } finally {
    decoder.dispose();
    reader.close();
  }
}

/** Hands `job` the factor of each of `cols` columns (a push with only slot 1 filled), then empties slot 1 again. */
export async function pushActivations(input: ActivationInput, cols: number, job: WasmJob, ctx: TaskContext): Promise<void> {
  const values = await readActivations(input, cols, ctx);
  try {
    ctx.core.input(values.byteLength, 1).set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    ctx.core.input(0, 0);
    job.push();
  } finally {
    ctx.core.input(0, 1);
  }
}
