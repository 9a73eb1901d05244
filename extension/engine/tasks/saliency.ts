/**
 * Worker side of saliency: read the activation vector of the weight's input channels (any float dtype, any layout),
 * turn it into the statistic the method multiplies by, stage it in input slot 1, then stream the weight matrix
 * through the core's saliency job.
 */
import type { TensorLocation } from '../../formats/checkpoint';
import { elementCount } from '../../formats/checkpoint';
import type { SaliencyAnalysis, StreamedMethod } from '../saliencyTypes';
import { streamPasses } from './passes';
import { TaskFailure, type TaskContext } from './taskContext';

/** How a stored statistic becomes the method's a_j: a = f(value / divisor). */
export type ActivationTransform = 'identity' | 'sqrt' | 'square';

export interface ActivationInput {
  location: TensorLocation;
  divisor?: number;
  transform: ActivationTransform;
}

export interface SaliencySpec {
  location: TensorLocation;
  rows: number;
  cols: number;
  method: StreamedMethod;
  /** SmoothQuant's migration strength in [0, 1] (ignored by the other methods). */
  alpha: number;
  /** Channels and weights ranked. */
  top: number;
  activation?: ActivationInput;
  chunkBytes: number;
}

export type SaliencyTaskResult = SaliencyAnalysis;

const TRANSFORMS: Readonly<Record<ActivationTransform, (x: number) => number>> = {
  identity: (x) => x,
  sqrt: Math.sqrt,
  square: (x) => x * x,
};

export async function runSaliency(spec: SaliencySpec, ctx: TaskContext): Promise<SaliencyTaskResult> {
  const activations = spec.activation && (await readActivations(spec.activation, spec.cols, ctx));
  const job = ctx.core.beginSaliency(spec.location.dtype, spec.rows, spec.cols, spec.method, spec.alpha, spec.top);
  try {
    if (activations) {
      ctx.core.input(activations.byteLength, 1).set(new Uint8Array(activations.buffer, activations.byteOffset, activations.byteLength));
      ctx.core.input(0, 0);
      job.push();
    }
    ctx.core.input(0, 1);
    await streamPasses(spec.location, job, ctx, spec.chunkBytes);
    return job.result();
  } finally {
    ctx.core.input(0, 1);
    job.dispose();
  }
}

/** The activation statistic of every column, decoded exactly and transformed in f64. */
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
