/**
 * Heatmap colours, as pure functions: a diverging scale symmetric around zero (linear, or symlog with a linear
 * region of half-width `threshold`, the same transform as d3's scaleSymlog), theme colours parsed from CSS, and
 * the RGBA pixels of a tile.
 */

export type Rgb = readonly [number, number, number];

export type ScaleKind = 'linear' | 'symlog';

/** Values in [−limit, limit] map to [−1, 1] (beyond: clamped); NaN stays NaN. */
export interface ValueScale {
  kind: ScaleKind;
  limit: number;
  /** Half-width of the symlog scale's linear region. */
  threshold: number;
}

/** The theme's colours for the two signs, zero, and cells without a value. */
export interface HeatPalette {
  negative: Rgb;
  zero: Rgb;
  positive: Rgb;
  missing: Rgb;
}

/** A CSS colour as VS Code themes write them (#rgb, #rgba, #rrggbb, #rrggbbaa, rgb(), rgba()), or undefined. */
export function parseColor(text: string): Rgb | undefined {
  const t = text.trim().toLowerCase();
  let m = /^#([0-9a-f]{3,8})$/.exec(t);
  if (m) {
    const hex = m[1]!;
    if (hex.length === 3 || hex.length === 4) return [0, 1, 2].map((i) => parseInt(hex[i]! + hex[i]!, 16)) as unknown as Rgb;
    if (hex.length === 6 || hex.length === 8) return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)) as unknown as Rgb;
    return undefined;
  }
  m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/.exec(t);
  if (m) return [m[1], m[2], m[3]].map((v) => Math.max(0, Math.min(255, Math.round(Number(v))))) as unknown as Rgb;
  return undefined;
}

/** sign(v)·log1p(|v|/c): d3's symlog transform. */
export function symlog(v: number, threshold: number): number {
  return Math.sign(v) * Math.log1p(Math.abs(v) / threshold);
}

/** A value's position on the scale, in [−1, 1]. */
export function scalePosition(scale: ValueScale, v: number): number {
  if (Number.isNaN(v) || !(scale.limit > 0)) return Number.isNaN(v) ? Number.NaN : 0;
  const t = scale.kind === 'symlog' ? symlog(v, scale.threshold) / symlog(scale.limit, scale.threshold) : v / scale.limit;
  return Math.max(-1, Math.min(1, t));
}

/** The value at a position in [−1, 1] (the inverse of scalePosition within the limit). */
export function scaleValue(scale: ValueScale, t: number): number {
  if (scale.kind === 'linear') return t * scale.limit;
  const top = symlog(scale.limit, scale.threshold);
  return Math.sign(t) * scale.threshold * Math.expm1(Math.abs(t) * top);
}

/** The colour at a position in [−1, 1]: from zero's colour toward the sign's colour. */
export function colorAt(palette: HeatPalette, t: number): Rgb {
  if (Number.isNaN(t)) return palette.missing;
  const end = t < 0 ? palette.negative : palette.positive;
  const a = Math.abs(t);
  return [0, 1, 2].map((i) => Math.round(palette.zero[i]! + (end[i]! - palette.zero[i]!) * a)) as unknown as Rgb;
}

/** Entries of the colour lookup table (positions quantized to this many steps across [−1, 1]). */
const LUT_STEPS = 1024;

/** RGBA pixels of `values` (row-major): opaque colours, fully transparent where a cell has no value. */
export function tileToRgba(values: Float64Array, scale: ValueScale, palette: HeatPalette): Uint8ClampedArray {
  const lut = new Uint8ClampedArray(4 * (LUT_STEPS + 1));
  for (let k = 0; k <= LUT_STEPS; k++) {
    const [r, g, b] = colorAt(palette, (2 * k) / LUT_STEPS - 1);
    lut.set([r, g, b, 255], 4 * k);
  }
  const out = new Uint8ClampedArray(4 * values.length);
  for (let i = 0; i < values.length; i++) {
    const t = scalePosition(scale, values[i]!);
    if (Number.isNaN(t)) continue; // transparent: the "no value" background shows through
    const k = 4 * Math.round(((t + 1) / 2) * LUT_STEPS);
    out[4 * i] = lut[k]!;
    out[4 * i + 1] = lut[k + 1]!;
    out[4 * i + 2] = lut[k + 2]!;
    out[4 * i + 3] = 255;
  }
  return out;
}

/** Legend tick values: ±limit and zero, plus powers of ten of the threshold on a symlog scale. */
export function legendTicks(scale: ValueScale): number[] {
  if (!(scale.limit > 0)) return [0];
  if (scale.kind === 'linear') return [-scale.limit, -scale.limit / 2, 0, scale.limit / 2, scale.limit];
  const ticks = [0];
  for (let v = scale.threshold; v < scale.limit * 0.7; v *= 10) ticks.push(v, -v);
  ticks.push(scale.limit, -scale.limit);
  return ticks.sort((a, b) => a - b);
}

/** The largest |value| of a tile (0 when it has none), the natural limit of its colour scale. */
export function absoluteMax(values: Float64Array): number {
  let max = 0;
  for (const v of values) if (Math.abs(v) > max) max = Math.abs(v);
  return max;
}
