/**
 * A mergekit configuration with the same method and parameters as a Weightscope merge (mergekit's documented
 * schema: merge_method, base_model, models[].parameters, parameters, dtype). Strings are written as JSON strings,
 * which YAML reads as double-quoted scalars.
 */
import type { MergeMethod } from './methods';

export interface MergekitInput {
  method: MergeMethod;
  params: Readonly<Record<string, number>>;
  base: string;
  models: readonly string[];
  /** The base's dtype (safetensors spelling). */
  dtype: string;
}

export class MergekitUnsupported extends Error {}

const MERGEKIT_DTYPES: Readonly<Record<string, string>> = { BF16: 'bfloat16', F16: 'float16', F32: 'float32', F64: 'float64' };

function scalar(value: number | boolean | string): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'boolean') return String(value);
  return Number.isInteger(value) ? value.toFixed(1) : String(value);
}

export function mergekitYaml(input: MergekitInput): string {
  const p = input.params;
  const comments: string[] = [];
  let method: string;
  let perModel: Record<string, number>;
  let global: Record<string, number | boolean>;
  switch (input.method) {
    case 'task-arithmetic':
      method = 'task_arithmetic';
      perModel = { weight: 1 };
      global = { lambda: p.lambda!, normalize: false };
      break;
    case 'ties':
      method = 'ties';
      perModel = { density: p.density!, weight: 1 };
      global = { lambda: p.lambda!, normalize: true };
      comments.push('Weightscope elects sign 0 (a zero delta) where the kept deltas sum to 0; mergekit elects +.');
      break;
    case 'dare':
      method = 'dare_linear';
      perModel = { density: 1 - p.drop!, weight: 1 };
      global = { lambda: p.lambda!, normalize: false, rescale: true };
      comments.push(`DARE drop masks are random: mergekit's differ from Weightscope's (seed ${p.seed}).`);
      break;
    case 'breadcrumbs':
      method = 'breadcrumbs';
      perModel = { density: 1 - p.beta! - p.gamma!, gamma: p.beta!, weight: 1 };
      global = { lambda: p.lambda!, normalize: false };
      comments.push(`mergekit's gamma is the top fraction dropped (Weightscope's beta = ${p.beta}); density = 1 − beta − gamma.`);
      break;
    case 'tall':
      method = 'task_arithmetic';
      perModel = { weight: 1 };
      global = { lambda: 1, normalize: false };
      comments.push(`TALL masks (lambda ${p.lambda}) have no mergekit method: the merged model is task arithmetic (the sum of the task vectors);`,
        'the per-task masks come with the masks file.');
      break;
    case 'consensus':
      throw new MergekitUnsupported('mergekit has no consensus (TALL-mask) merge method');
  }
  const lines = [
    '# Written by Weightscope: the same merge as a mergekit configuration.',
    ...comments.map((c) => `# ${c}`),
    `merge_method: ${method}`,
    `base_model: ${scalar(input.base)}`,
    'models:',
    ...input.models.flatMap((model) => [
      `  - model: ${scalar(model)}`,
      '    parameters:',
      ...Object.entries(perModel).map(([k, v]) => `      ${k}: ${scalar(v)}`),
    ]),
    'parameters:',
    ...Object.entries(global).map(([k, v]) => `  ${k}: ${scalar(v)}`),
    ...(MERGEKIT_DTYPES[input.dtype] ? [`dtype: ${MERGEKIT_DTYPES[input.dtype]}`] : []),
  ];
  return lines.join('\n') + '\n';
}
