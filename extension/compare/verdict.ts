/**
 * Whether two checkpoints are one training's start and end, or two independent trainings. Element-wise deltas of
 * independent trainings are meaningless (their neurons are permuted relative to each other), and the tell is that
 * the tensors' cosines cluster around 0 instead of near 1.
 */

/** |cosine| below this counts as "unrelated" for one tensor pair. */
export const UNRELATED_COSINE = 0.2;
/** The verdict needs at least this share of the comparable pairs to be unrelated. */
export const UNRELATED_SHARE = 0.8;

/**
 * True when nearly all comparable pairs (a defined cosine, not bit-identical) have |cosine| < UNRELATED_COSINE:
 * at least UNRELATED_SHARE of them, and at least two pairs.
 */
export function independentTrainings(pairs: readonly { cosine: number | null; identical: boolean }[]): boolean {
  const comparable = pairs.filter((p) => p.cosine !== null && !p.identical);
  if (comparable.length < 2) return false;
  const unrelated = comparable.filter((p) => Math.abs(p.cosine!) < UNRELATED_COSINE).length;
  return unrelated >= UNRELATED_SHARE * comparable.length;
}

export const INDEPENDENT_TRAININGS_NOTICE =
  'Cosines are near 0 almost everywhere: these look like two independent trainings, not one a fine-tune of the other. ' +
  'Element-wise deltas between independently trained models are not meaningful (their neurons are permuted); compare their singular-value spectra instead.';
