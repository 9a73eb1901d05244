/** Pure helpers of the Saliency tab: per-channel profiles pooled for drawing, and SmoothQuant's α preview. */

/** One drawn bin of a per-channel profile: the channels [first, last] and the largest finite value among them. */
export interface ProfileBin {
  first: number;
  last: number;
  max: number;
}

/** Max-pools a per-channel vector into at most `bins` bins (channels without a finite value are skipped). */
export function pooledProfile(values: ArrayLike<number>, bins: number): ProfileBin[] {
  const n = values.length;
  const count = Math.max(1, Math.min(bins, n));
  const out: ProfileBin[] = [];
  for (let b = 0; b < count; b++) {
    const first = Math.floor((b * n) / count);
    const last = Math.floor(((b + 1) * n) / count) - 1;
    let max = Number.NaN;
    for (let j = first; j <= last; j++) {
      const v = values[j]!;
      if (Number.isFinite(v) && !(v <= max)) max = v;
    }
    if (!Number.isNaN(max)) out.push({ first, last, max });
  }
  return out;
}

/** max / median of the finite positive values: how far the largest channel stands above a typical one (1 = flat). */
export function spread(values: ArrayLike<number>): number | null {
  const finite = Array.from(values).filter((v) => Number.isFinite(v) && v > 0).sort((a, b) => a - b);
  if (finite.length === 0) return null;
  const mid = finite.length >> 1;
  const median = finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
  return finite[finite.length - 1]! / median;
}

export interface SmoothQuantPreview {
  /** s_j = max|X_j|^α / max_i|W_ij|^(1−α). */
  scales: Float64Array;
  /** max|X_j| / s_j: the activation range after migration. */
  activationsAfter: Float64Array;
  /** max_i|W_ij| · s_j: the weight range after migration. */
  weightsAfter: Float64Array;
  spread: { activationsBefore: number | null; activationsAfter: number | null; weightsBefore: number | null; weightsAfter: number | null };
}

/** What SmoothQuant's migration with strength α does to the per-channel ranges of activations and weights. */
export function smoothQuantPreview(activationMax: ArrayLike<number>, weightMax: ArrayLike<number>, alpha: number): SmoothQuantPreview {
  const n = activationMax.length;
  const scales = new Float64Array(n);
  const activationsAfter = new Float64Array(n);
  const weightsAfter = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const s = activationMax[j]! ** alpha / weightMax[j]! ** (1 - alpha);
    scales[j] = s;
    activationsAfter[j] = activationMax[j]! / s;
    weightsAfter[j] = weightMax[j]! * s;
  }
  return {
    scales, activationsAfter, weightsAfter,
    spread: { activationsBefore: spread(activationMax), activationsAfter: spread(activationsAfter), weightsBefore: spread(weightMax), weightsAfter: spread(weightsAfter) },
  };
}

/** AWQ protects about 1 % of the input channels: how many that is for `cols` channels (at least one). */
export function awqSalientCount(cols: number): number {
  return Math.max(1, Math.round(cols / 100));
}
