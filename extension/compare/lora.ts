/**
 * LoRA adapters seen as the weight deltas they stand for, ΔW = scale·B·A. Pairs are found by name in the
 * conventions of PEFT (`…lora_A.weight`/`…lora_B.weight`), MLX (`…lora_a`/`…lora_b`, stored transposed: A is
 * in × r, B is r × out), kohya (`…lora_down.weight`/`…lora_up.weight` with an optional `…alpha` scalar), diffusers
 * (`…_lora.down.weight`/`…_lora.up.weight`, also `…lora_layer.down…` and `…lora_linear_layer.down…`) and
 * cloneofsimo's `…:down`/`…:up`.
 *
 * The scale: PEFT's adapter_config.json gives lora_alpha / r (or / √r with use_rslora; rank_pattern and
 * alpha_pattern override per module); MLX's gives lora_parameters.scale (times alpha / rank when the file also has
 * alpha, as mlx-lm versions that wrote both applied it); kohya's alpha tensor gives alpha / rank; otherwise 1.
 */
import type { TensorEntry } from '../formats/checkpoint';
import { matrixShape } from '../formats/checkpoint';

export type LoraConvention = 'peft' | 'mlx' | 'kohya' | 'diffusers' | 'cloneofsimo';

export interface LoraPair {
  /** The module the pair adapts, as named in the file. */
  module: string;
  /** The name the delta is shown and aligned under: the adapted weight's name. */
  name: string;
  convention: LoraConvention;
  a: TensorEntry;
  b: TensorEntry;
  rank: number;
  /** ΔW rows (out features) and columns (in features, times kernel size for convolutions). */
  rows: number;
  cols: number;
  /** ΔW's shape: [out, in, …kernel]. */
  shape: number[];
  transposedA: boolean;
  transposedB: boolean;
  /** kohya's per-pair alpha scalar, when present. */
  alpha?: TensorEntry;
}

interface Role {
  module: string;
  factor: 'a' | 'b' | 'alpha';
  convention: LoraConvention;
}

const PATTERNS: readonly [RegExp, LoraConvention, (m: RegExpExecArray) => Role['factor']][] = [
  [/^(.*)\.lora_([AB])(?:\.[^.]+)?\.weight$/, 'peft', (m) => (m[2] === 'A' ? 'a' : 'b')],
  [/^(.*)\.lora_([ab])$/, 'mlx', (m) => m[2] as 'a' | 'b'],
  [/^(.*)\.lora_(down|up)\.weight$/, 'kohya', (m) => (m[2] === 'down' ? 'a' : 'b')],
  [/^(.*)\.alpha$/, 'kohya', () => 'alpha'],
  // diffusers: attention processors (`to_q_lora.down`), `lora_layer` and the patched text encoder's `lora_linear_layer`.
  [/^(.*?)(?:[._]lora|\.lora_layer|\.lora_linear_layer)\.(down|up)\.weight$/, 'diffusers', (m) => (m[2] === 'down' ? 'a' : 'b')],
  [/^(.*):(down|up)$/, 'cloneofsimo', (m) => (m[2] === 'down' ? 'a' : 'b')],
];

function roleOf(name: string): Role | undefined {
  for (const [pattern, convention, factor] of PATTERNS) {
    const m = pattern.exec(name);
    if (m) return { module: m[1]!, factor: factor(m), convention };
  }
  return undefined;
}

/** The adapter's pairs, and every tensor that is not a factor of one (biases, modules_to_save, embeddings…). */
export function findLoraPairs(tensors: readonly TensorEntry[]): { pairs: LoraPair[]; others: TensorEntry[] } {
  const groups = new Map<string, { a?: TensorEntry; b?: TensorEntry; alpha?: TensorEntry; convention: LoraConvention }>();
  for (const t of tensors) {
    const role = roleOf(t.name);
    if (!role) continue;
    const key = `${role.convention}\u0000${role.module}`;
    const group = groups.get(key) ?? { convention: role.convention };
    group[role.factor] = t;
    groups.set(key, group);
  }
  const paired = new Set<TensorEntry>();
  const pairs: LoraPair[] = [];
  for (const [key, group] of groups) {
    if (!group.a || !group.b) continue;
    const pair = pairOf(key.slice(key.indexOf('\u0000') + 1), group.convention, group.a, group.b, group.alpha);
    if (!pair) continue;
    pairs.push(pair);
    for (const t of [group.a, group.b, group.alpha]) if (t) paired.add(t);
  }
  const order = new Map(tensors.map((t, i) => [t, i]));
  pairs.sort((x, y) => order.get(x.a)! - order.get(y.a)!);
  return { pairs, others: tensors.filter((t) => !paired.has(t)) };
}

function pairOf(module: string, convention: LoraConvention, a: TensorEntry, b: TensorEntry, alpha?: TensorEntry): LoraPair | undefined {
  if (a.problem || b.problem || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const transposed = convention === 'mlx';
  let rank: number;
  let rows: number;
  let cols: number;
  let shape: number[];
  if (transposed) {
    if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[0]) return undefined;
    [cols, rank] = a.shape as [number, number];
    rows = b.shape[1]!;
    shape = [rows, cols];
  } else {
    const am = matrixShape(a.shape);
    const bm = matrixShape(b.shape);
    // B may be a 1×1 convolution [out, r, 1, 1]: its matrix is out × r.
    if (am.rows !== bm.cols) return undefined;
    rank = am.rows;
    rows = bm.rows;
    cols = am.cols;
    shape = [rows, ...a.shape.slice(1)];
  }
  const name = convention === 'cloneofsimo' ? module : `${module}.weight`;
  return { module, name, convention, a, b, rank, rows, cols, shape, transposedA: transposed, transposedB: transposed, ...(alpha ? { alpha } : {}) };
}

/** The scale used for a pair, and where it came from (shown to the user). */
export interface LoraScale {
  scale: number;
  source: string;
}

/** What an adapter_config.json says about scaling, parsed leniently (unknown keys ignored). */
export interface AdapterConfig {
  /** The file it came from. */
  path: string;
  json: Record<string, unknown>;
}

const num = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const record = (x: unknown): Record<string, unknown> | undefined => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined);

/** PEFT's rank_pattern / alpha_pattern lookup: a key matches a module path ending in it (regex, as PEFT does). */
function patternValue(patterns: Record<string, unknown> | undefined, modulePath: string): number | undefined {
  for (const [key, value] of Object.entries(patterns ?? {})) {
    try {
      if (new RegExp(`^(.*\\.)?(${key})$`).test(modulePath)) return num(value);
    } catch {
      if (modulePath === key || modulePath.endsWith(`.${key}`)) return num(value);
    }
  }
  return undefined;
}

/**
 * The scale of one pair from an adapter config (when given), else from its kohya alpha value (when read), else 1.
 * `alphaValue` is the value of the pair's alpha tensor.
 */
export function loraScale(pair: LoraPair, config: AdapterConfig | undefined, alphaValue?: number): LoraScale {
  const fmt = (x: number): string => String(Number(x.toPrecision(6)));
  const mlx = record(config?.json.lora_parameters);
  if (config && mlx) {
    const scale = num(mlx.scale);
    const alpha = num(mlx.alpha);
    const rank = num(mlx.rank) ?? pair.rank;
    if (scale !== undefined && alpha !== undefined && rank > 0) {
      return { scale: (scale * alpha) / rank, source: `${config.path}: lora_parameters scale × alpha / rank = ${fmt(scale)} × ${fmt(alpha)} / ${fmt(rank)}` };
    }
    if (scale !== undefined) return { scale, source: `${config.path}: lora_parameters.scale = ${fmt(scale)}` };
    if (alpha !== undefined && rank > 0) return { scale: alpha / rank, source: `${config.path}: lora_parameters alpha / rank = ${fmt(alpha)} / ${fmt(rank)}` };
  }
  const alpha = num(config?.json.lora_alpha);
  if (config && alpha !== undefined) {
    const modulePath = pair.module.replace(/^base_model\.model\./, '');
    const r = patternValue(record(config.json.rank_pattern), modulePath) ?? num(config.json.r) ?? pair.rank;
    const a = patternValue(record(config.json.alpha_pattern), modulePath) ?? alpha;
    const rslora = config.json.use_rslora === true;
    const scale = rslora ? a / Math.sqrt(r) : a / r;
    return { scale, source: `${config.path}: lora_alpha / ${rslora ? '√r' : 'r'} = ${fmt(a)} / ${rslora ? `√${fmt(r)}` : fmt(r)}` };
  }
  if (alphaValue !== undefined && Number.isFinite(alphaValue)) {
    return { scale: alphaValue / pair.rank, source: `alpha tensor "${pair.alpha?.name}" / rank = ${fmt(alphaValue)} / ${pair.rank}` };
  }
  return { scale: 1, source: 'no adapter_config.json or alpha tensor: scale 1' };
}
