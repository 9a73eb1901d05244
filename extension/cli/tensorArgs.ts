/** Arguments the analysis commands share: picking a tensor by name, ranges `A:B`, sizes `HxW`. */
import type { Checkpoint, TensorEntry } from '../formats/checkpoint';
import { FormatError } from '../formats/formatError';
import { UsageError } from './args';

/** The tensor called `name`; an unknown name is a usage error, a tensor the engine cannot read an input error. */
export function findTensor(checkpoint: Checkpoint, name: string): TensorEntry {
  const entry = checkpoint.tensors.find((t) => t.name === name);
  if (!entry) throw new UsageError(`no tensor named "${name}" (the checkpoint has ${checkpoint.tensors.length})`);
  if (entry.problem) throw new FormatError(entry.problem.code, entry.problem.message, entry.file, entry.name);
  return entry;
}

/** `A:B`, `A:` or `:B` (whole numbers); the bounds are checked against the tensor later. */
export function parseRange(text: string | undefined, flag: string): [number | undefined, number | undefined] | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d*):(\d*)$/.exec(text);
  if (!match) throw new UsageError(`--${flag} takes A:B, A: or :B with whole numbers, not "${text}"`);
  const end = (s: string): number | undefined => (s === '' ? undefined : safeInteger(s, flag));
  return [end(match[1]!), end(match[2]!)];
}

/** `HxW`, both whole numbers of at least 1. */
export function parseSize(text: string | undefined): [number, number] {
  if (text === undefined) throw new UsageError('--size HxW is required');
  const match = /^(\d+)x(\d+)$/i.exec(text);
  if (!match) throw new UsageError(`--size takes HxW with whole numbers, not "${text}"`);
  const [h, w] = [safeInteger(match[1]!, 'size'), safeInteger(match[2]!, 'size')];
  if (h < 1 || w < 1) throw new UsageError(`--size needs a height and width of at least 1, not ${text}`);
  return [h, w];
}

function safeInteger(digits: string, flag: string): number {
  const value = Number(digits);
  if (!Number.isSafeInteger(value)) throw new UsageError(`--${flag}: ${digits} is too large`);
  return value;
}

/** NaN and infinities become null, as JSON has no such numbers. */
export function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
