/**
 * What a comparison streams: a stored tensor, or a LoRA pair standing for ΔW = scale·B·A, which the core computes a
 * band of rows at a time. Either way the elements arrive in logical row-major order into a WASM input slot, so the
 * diff and low-rank jobs never know which it was.
 */
import type { TensorLocation } from '../../formats/checkpoint';
import { elementCount } from '../../formats/checkpoint';
import type { LoraJob, WasmJob } from '../wasmCore';
import { byteSpan, chunkElements, elementChunks, gcd, type ElementChunk } from './chunks';
import { TaskFailure, type TaskContext } from './taskContext';

/** A LoRA pair as a delta of shape [rows (out), cols (in)]. */
export interface LoraOperand {
  kind: 'lora';
  /** A: r × in (PEFT) or in × r (MLX, `transposedA`). */
  a: TensorLocation;
  /** B: out × r (PEFT) or r × out (MLX, `transposedB`). */
  b: TensorLocation;
  rank: number;
  rows: number;
  cols: number;
  transposedA: boolean;
  transposedB: boolean;
  scale: number;
}

/** A stored tensor, a LoRA delta, or zeros (to see a delta on its own: b − 0). */
export type Operand = { kind: 'tensor'; location: TensorLocation } | LoraOperand | { kind: 'zeros'; elements: number };

/** LoRA tiles arrive as F64, zeros as U8. */
export function operandDtype(operand: Operand): string {
  return operand.kind === 'tensor' ? operand.location.dtype : operand.kind === 'lora' ? 'F64' : 'U8';
}

export function operandElements(operand: Operand): number {
  switch (operand.kind) {
    case 'tensor': return elementCount(operand.location.shape);
    case 'lora': return operand.rows * operand.cols;
    case 'zeros': return operand.elements;
  }
}

/** Bytes an operand reads from files (for progress). */
export function operandBytes(operand: Operand): number {
  switch (operand.kind) {
    case 'tensor': return operand.location.bytes;
    case 'lora': return operand.a.bytes + operand.b.bytes;
    case 'zeros': return 0;
  }
}

/** An opened operand: fills a slot with elements [first, first + count); returns the file bytes it read. */
export interface OperandStream {
  readonly dtype: string;
  fill(chunk: ElementChunk, slot: number): Promise<number>;
  close(): void;
}

export async function openOperand(operand: Operand, ctx: TaskContext, chunkBytes: number): Promise<OperandStream> {
  if (operand.kind === 'zeros') {
    return {
      dtype: 'U8',
      async fill(chunk, slot) {
        ctx.core.input(chunk.count, slot).fill(0);
        return 0;
      },
      close: () => {},
    };
  }
  if (operand.kind === 'tensor') {
    const { location } = operand;
    const reader = ctx.reader(location);
    return {
      dtype: location.dtype,
      async fill(chunk, slot) {
        const span = byteSpan(location.dtype, chunk.first, chunk.count);
        await reader.read(span.start, ctx.core.input(span.length, slot));
        return span.length;
      },
      close: () => reader.close(),
    };
  }
  const job = ctx.core.beginLora(operand.a.dtype, operand.b.dtype, operand.rank, operand.cols, operand.rows,
    { a: operand.transposedA, b: operand.transposedB }, operand.scale);
  try {
    await loadFactors(job, operand, ctx, chunkBytes);
  } catch (error) {
    job.dispose();
    throw error;
  }
  return {
    dtype: 'F64',
    async fill(chunk, slot) {
      if (chunk.first % operand.cols !== 0 || chunk.count % operand.cols !== 0) {
        throw new TaskFailure('INVALID_ARGUMENT', 'a LoRA delta is streamed in whole rows');
      }
      job.tileInto(chunk.first / operand.cols, chunk.count / operand.cols, slot);
      return 0;
    },
    close: () => job.dispose(),
  };
}

/** Streams A (slot 0) then B (slot 1) into the LoRA job; the factors are small but still read in chunks. */
async function loadFactors(job: LoraJob, operand: LoraOperand, ctx: TaskContext, chunkBytes: number): Promise<void> {
  for (const [location, slot] of [[operand.a, 0], [operand.b, 1]] as const) {
    const reader = ctx.reader(location);
    try {
      for (const chunk of elementChunks(0, elementCount(location.shape), [location.dtype], chunkBytes)) {
        ctx.checkCancelled();
        const span = byteSpan(location.dtype, chunk.first, chunk.count);
        await reader.read(span.start, ctx.core.input(span.length, slot));
        ctx.core.input(0, 1 - slot);
        job.push();
        ctx.progress(span.length);
      }
    } finally {
      reader.close();
    }
  }
}

/**
 * Streams operands of the same elements in lockstep, operand i into slot i (null: slot i stays empty), pushing each
 * chunk to `job`, as many passes as it asks for; progress counts the file bytes of the first pass. Closes them.
 */
export async function streamOperandPasses(operands: readonly (Operand | null)[], job: WasmJob, ctx: TaskContext, chunkBytes: number): Promise<void> {
  const present = operands.filter((o): o is Operand => o !== null);
  const streams: (OperandStream | null)[] = [];
  try {
    for (const operand of operands) streams.push(operand ? await openOperand(operand, ctx, chunkBytes) : null);
    let firstPass = true;
    do {
      for (const chunk of operandChunks(present, operandElements(present[0]!), chunkBytes)) {
        ctx.checkCancelled();
        let read = 0;
        for (const [slot, stream] of streams.entries()) read += stream ? await stream.fill(chunk, slot) : (ctx.core.input(0, slot), 0);
        job.push();
        if (firstPass) ctx.progress(read);
      }
      firstPass = false;
    } while (job.endPass());
  } finally {
    for (const stream of streams) stream?.close();
  }
}

/**
 * Lockstep chunks over elements [from, end) of several operands: whole groups of every dtype, and whole rows of
 * every LoRA delta (which is computed row by row). `from` must start such a unit (`operandUnit`).
 */
export function* operandChunks(operands: readonly Operand[], end: number, chunkBytes: number, from = 0): Generator<ElementChunk> {
  const dtypes = operands.map(operandDtype);
  const unit = operandUnit(operands);
  const step = unit * Math.max(1, Math.floor(chunkElements(dtypes, chunkBytes) / unit));
  for (let first = from; first < end; first += step) yield { first, count: Math.min(step, end - first) };
}

/** The elements every lockstep chunk holds a multiple of: every dtype's group and every LoRA delta's row. */
export function operandUnit(operands: readonly Operand[]): number {
  const rowLengths = operands.flatMap((o) => (o.kind === 'lora' ? [o.cols] : []));
  return [...rowLengths, chunkElements(operands.map(operandDtype), 1)].reduce(lcm, 1);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
