/**
 * Activation statistics imported from calibration tools, per input channel of a weight: where each statistic's
 * values lie in the file (never the values themselves — workers read them next to the weights), and which file
 * formats carry them. One importer module per format; like the checkpoint readers they see bytes only through a
 * `SourceOpener` and treat every count and length as hostile.
 */
import type { SourceOpener } from '../source/byteSource';
import { elementCount, type Finding, type TensorEntry, type TensorLocation } from '../formats/checkpoint';
import { lookupDType } from '../formats/dtypes';
import { FormatError } from '../formats/formatError';

/**
 * Per input channel j, over the calibration tokens t:
 * - `sumSquares`: Σ_t x_tj² (llama.cpp imatrix `in_sum2`; the legacy `.dat`, which lost the token count, gives the
 *   per-token mean Σ_t x_tj² / N instead);
 * - `l2`: ‖X_j‖₂ = sqrt(Σ_t x_tj²);
 * - `meanAbs`: mean_t |x_tj|;
 * - `maxAbs`: max_t |x_tj| (SmoothQuant's `act_scales`).
 */
export type ActivationStatistic = 'sumSquares' | 'l2' | 'meanAbs' | 'maxAbs';

/** Where one statistic's values lie: a tensor read in logical order, each decoded value divided by `divisor`. */
export interface StatisticVector {
  readonly location: TensorLocation;
  readonly divisor?: number;
}

export interface ActivationEntry {
  /** The name as stored: a llama.cpp weight name, a Hugging Face module or weight name. */
  readonly name: string;
  /** Values of each statistic (input channels; times the experts for a llama.cpp MoE entry). */
  readonly length: number;
  readonly statistics: Readonly<Partial<Record<ActivationStatistic, StatisticVector>>>;
  /** Tokens the sums ran over, per matrix (an imatrix's counts), when the file says. */
  readonly tokens?: readonly number[];
}

export type ActivationFormat = 'imatrix' | 'imatrix-dat' | 'safetensors' | 'numpy' | 'pytorch';

export interface ActivationStats {
  readonly format: ActivationFormat;
  readonly file: string;
  /** What the file says about the calibration (datasets, chunks), as text. */
  readonly metadata: Readonly<Record<string, string>>;
  /** In file order. */
  readonly entries: readonly ActivationEntry[];
  /** What a user should know about the file although it did not stop reading (unexpected pickle globals, …). */
  readonly findings?: readonly Finding[];
}

export interface ActivationImporter {
  readonly format: ActivationFormat;
  /** Lower-case file name endings claimed. */
  readonly extensions: readonly string[];
  /** True when the first bytes (up to 64) look like this format. */
  sniff(head: Uint8Array): boolean;
  open(path: string, opener: SourceOpener): Promise<ActivationStats>;
}

/**
 * The documented layout of tensor files (safetensors, `.npz`, PyTorch dicts): a vector named `<weight>.act_l2`,
 * `<weight>.act_mean_abs` or `<weight>.act_max_abs` holds that statistic of `<weight>`'s input channels; a vector
 * with any other name holds max|X_j| (the SmoothQuant / AWQ `act_scales` convention, keyed by module name).
 */
export const LAYOUT_SUFFIXES: readonly (readonly [string, ActivationStatistic])[] = [
  ['.act_l2', 'l2'],
  ['.act_mean_abs', 'meanAbs'],
  ['.act_max_abs', 'maxAbs'],
];

const STATISTIC_TEXT: Readonly<Record<ActivationStatistic, string>> = {
  sumSquares: 'Σx²',
  l2: '‖X‖₂',
  meanAbs: 'mean|X|',
  maxAbs: 'max|X|',
};

export function describeStatistic(statistic: ActivationStatistic): string {
  return STATISTIC_TEXT[statistic];
}

/** Entries of a tensor file in the documented layout, in order of first appearance. */
export function entriesFromLayout(tensors: readonly TensorEntry[], file: string): ActivationEntry[] {
  const fail = (code: ConstructorParameters<typeof FormatError>[0], message: string, tensor: string): never => {
    throw new FormatError(code, message, file, tensor);
  };
  if (tensors.length === 0) fail('NO_STATISTICS', 'the file holds no tensors', '');
  const entries = new Map<string, { length: number; statistics: Partial<Record<ActivationStatistic, StatisticVector>> }>();
  for (const tensor of tensors) {
    if (tensor.problem) fail(tensor.problem.code, tensor.problem.message, tensor.name);
    const kind = lookupDType(tensor.dtype)?.kind;
    if (kind !== 'float') fail('UNSUPPORTED_DTYPE', `statistics must be floating-point values, not ${tensor.dtype}`, tensor.name);
    if (tensor.shape.length !== 1) {
      fail('INVALID_SHAPE', `shape [${tensor.shape.join(', ')}] is not a vector: statistics hold one value per input channel (is this a model rather than activation statistics?)`, tensor.name);
    }
    const length = elementCount(tensor.shape);
    if (length === 0) fail('INVALID_SHAPE', 'the vector is empty', tensor.name);
    const [suffix, statistic] = LAYOUT_SUFFIXES.find(([s]) => tensor.name.endsWith(s) && tensor.name.length > s.length) ?? ['', 'maxAbs' as const];
    const name = tensor.name.slice(0, tensor.name.length - suffix.length);
    const entry = entries.get(name) ?? { length, statistics: {} };
    if (entry.statistics[statistic]) fail('DUPLICATE_TENSOR', `a second ${describeStatistic(statistic)} vector for "${name}"`, tensor.name);
    if (entry.length !== length) fail('LENGTH_MISMATCH', `${length} values, but other statistics of "${name}" have ${entry.length}`, tensor.name);
    entry.statistics[statistic] = { location: tensor };
    entries.set(name, entry);
  }
  return [...entries].map(([name, { length, statistics }]) => ({ name, length, statistics }));
}
