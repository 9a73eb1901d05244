/**
 * The merge methods, their parameters, defaults and valid ranges (methods.md §5; defaults follow mergekit where it
 * has the method). Shared by the CLI and the editor's merge preview, so both validate and echo alike.
 */

export const MERGE_METHODS = ['task-arithmetic', 'ties', 'dare', 'breadcrumbs', 'tall', 'consensus'] as const;
export type MergeMethod = (typeof MERGE_METHODS)[number];

export type ParamName = 'density' | 'beta' | 'gamma' | 'lambda' | 'drop' | 'seed' | 'k';

/** Each method's parameters, in the order `params` echoes them. */
export const METHOD_PARAMS: Readonly<Record<MergeMethod, readonly ParamName[]>> = {
  'task-arithmetic': ['lambda'],
  ties: ['density', 'lambda'],
  dare: ['lambda', 'drop', 'seed'],
  breadcrumbs: ['beta', 'gamma', 'lambda'],
  tall: ['lambda'],
  consensus: ['lambda', 'k'],
};

/**
 * Defaults: λ = 1 scales the merged task vector (mergekit's lambda); TIES keeps 20 % (the TIES paper's k);
 * DARE drops 90 % with seed 0; breadcrumbs drops the top 1 % and the bottom 9 % (mergekit's gamma 0.01 at
 * density 0.9); TALL and consensus use λ = 0.4 as the mask threshold (the middle of the paper's 0.2–0.6) and
 * consensus keeps weights used by at least k = 2 tasks.
 */
export function defaultParams(method: MergeMethod): Record<ParamName, number> {
  const maskMethod = method === 'tall' || method === 'consensus';
  return { density: 0.2, beta: 0.01, gamma: 0.09, lambda: maskMethod ? 0.4 : 1, drop: 0.9, seed: 0, k: 2 };
}

export class ParamError extends Error {}

/**
 * The effective parameters of a method from what the user gave: defaults filled in, ranges checked, parameters
 * of other methods refused. `density` is also accepted by DARE (drop = 1 − density) and by breadcrumbs
 * (gamma = 1 − density − beta), as mergekit users think in densities.
 */
export function resolveParams(method: MergeMethod, given: Partial<Record<ParamName, number>>, tasks: number): Record<string, number> {
  const own = METHOD_PARAMS[method];
  const aliases: Partial<Record<MergeMethod, ParamName>> = { dare: 'density', breadcrumbs: 'density' };
  for (const name of Object.keys(given) as ParamName[]) {
    if (!own.includes(name) && aliases[method] !== name) {
      throw new ParamError(`--${name} does not apply to ${method} (its parameters: ${own.map((p) => `--${p}`).join(', ')})`);
    }
  }
  const values = { ...defaultParams(method), ...given };
  if (given.density !== undefined && method === 'dare') {
    if (given.drop !== undefined) throw new ParamError('give --drop or --density for dare, not both');
    values.drop = 1 - given.density;
  }
  if (given.density !== undefined && method === 'breadcrumbs') {
    if (given.gamma !== undefined) throw new ParamError('give --gamma or --density for breadcrumbs, not both');
    values.gamma = 1 - given.density - values.beta;
  }
  const check = (name: ParamName, ok: (x: number) => boolean, range: string): void => {
    if (own.includes(name) && !ok(values[name])) throw new ParamError(`${name} must be ${range}, not ${values[name]}`);
  };
  const unit = (x: number): boolean => x >= 0 && x <= 1;
  check('lambda', Number.isFinite, 'a finite number');
  check('density', unit, 'from 0 to 1');
  check('drop', (x) => x >= 0 && x < 1, 'at least 0 and below 1');
  check('seed', (x) => Number.isSafeInteger(x) && x >= 0, 'a whole number from 0 to 2^53 − 1');
  check('k', (x) => Number.isInteger(x) && x >= 0 && x <= tasks, `a whole number from 0 to the number of fine-tunes (${tasks})`);
  check('beta', unit, 'from 0 to 1');
  check('gamma', (x) => unit(x) && x + values.beta <= 1 + 1e-12, 'from 0 to 1 − beta');
  return Object.fromEntries(own.map((name) => [name, values[name]]));
}
