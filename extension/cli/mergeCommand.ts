import { TaskError } from '../engine/computePool';
import { matchModels, runMerge, type MergeInput } from '../engine/mergeEngine';
import { buildMergeReport, type MergeReport } from '../engine/mergeReport';
import { inputFiles, outputConflict, writeTextFile } from '../engine/outputFile';
import { FormatError } from '../formats/formatError';
import { openCheckpoint } from '../formats/openCheckpoint';
import { mergekitYaml, MergekitUnsupported } from '../merge/mergekitYaml';
import { MERGE_METHODS, ParamError, resolveParams, type MergeMethod, type ParamName } from '../merge/methods';
import { nodeSourceOpener } from '../source/nodeFileSource';
import { flagValue, parseArgs, UsageError, type ParsedArgs } from './args';
import { abortOnInterrupt, engineFromArgs, ENGINE_FLAGS, givenOutputs, printJson, printLine, type Command } from './command';
import { renderTable } from './table';

const PARAM_FLAGS: readonly ParamName[] = ['density', 'lambda', 'drop', 'seed', 'k', 'beta', 'gamma'];

const FLAGS = {
  json: {}, details: {}, base: { value: true }, models: { variadic: true }, method: { value: true },
  out: { value: true }, masks: { value: true }, mergekit: { value: true },
  ...Object.fromEntries(PARAM_FLAGS.map((p) => [p, { value: true }])),
  ...ENGINE_FLAGS,
};

export const mergeCommand: Command = {
  usage: `  merge --base B --models F1 F2 ... --method ${MERGE_METHODS.join('|')}
        [--density D] [--lambda L] [--drop P] [--seed S] [--k K] [--beta B] [--gamma G]
        [--out merged.safetensors] [--masks masks.safetensors] [--mergekit config.yml] [--json] [--details]
        merge fine-tunes of one base; per-tensor kept and sign-conflict fractions, masks and the merged model`,
  run: runMergeCommand,
};

function numberFlag(args: ParsedArgs, name: string): number | undefined {
  const text = flagValue(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value)) throw new UsageError(`--${name} takes a number, not "${text}"`);
  return value;
}

async function runMergeCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (fine-tunes go after --models)`);
  const basePath = flagValue(args, 'base');
  const modelPaths = args.flags.get('models') ?? [];
  const method = flagValue(args, 'method') as MergeMethod | undefined;
  if (basePath === undefined) throw new UsageError('merge needs --base');
  if (modelPaths.length === 0) throw new UsageError('merge needs --models with at least one fine-tune');
  if (modelPaths.length > 15) throw new UsageError(`merge takes at most 15 fine-tunes, not ${modelPaths.length}`);
  if (method === undefined || !MERGE_METHODS.includes(method)) throw new UsageError(`--method must be one of ${MERGE_METHODS.join(', ')}`);
  const given: Partial<Record<ParamName, number>> = {};
  for (const name of PARAM_FLAGS) {
    const value = numberFlag(args, name);
    if (value !== undefined) given[name] = value;
  }
  let params: Record<string, number>;
  try {
    params = resolveParams(method, given, modelPaths.length);
  } catch (error) {
    if (error instanceof ParamError) throw new UsageError(error.message);
    throw error;
  }
  const out = flagValue(args, 'out');
  const masks = flagValue(args, 'masks');
  const yamlPath = flagValue(args, 'mergekit');
  if (yamlPath !== undefined && method === 'consensus') throw new UsageError(new MergekitUnsupported('mergekit has no consensus (TALL-mask) merge method').message);

  const open = async (path: string): Promise<MergeInput> => ({ path, checkpoint: await openCheckpoint(path, nodeSourceOpener) });
  const [base, ...models] = await Promise.all([basePath, ...modelPaths].map(open));
  const inputs = [base!, ...models].flatMap(inputFiles);
  const conflict = outputConflict(
    givenOutputs({ '--out': out, '--masks': masks, '--mergekit': yamlPath }),
    inputs,
  );
  if (conflict) throw new UsageError(conflict);
  const rows = matchModels(base!, models);

  const engine = engineFromArgs(args);
  const interrupt = abortOnInterrupt();
  let report: MergeReport;
  try {
    const { end, stats } = await runMerge(engine, { method, params, base: base!, models, rows, ...(out ? { out } : {}), ...(masks ? { masks } : {}) }, {}, interrupt.signal);
    if (end === 'cancelled') {
      printLine('interrupted: nothing written');
      return 130;
    }
    report = buildMergeReport(method, params, rows, stats, args.flags.has('details'));
  } catch (error) {
    if (error instanceof TaskError) throw new FormatError(error.code as FormatError['code'], error.message, basePath);
    throw error;
  } finally {
    interrupt.dispose();
    engine.dispose();
  }
  if (yamlPath) {
    const dtype = mostCommon(rows.map((r) => r.base.dtype));
    await writeTextFile(yamlPath, mergekitYaml({ method, params, base: basePath, models: modelPaths, dtype }));
  }
  if (args.flags.has('json')) printJson(report);
  else process.stdout.write(renderMergeTable(report, { out, masks, yamlPath }));
  return 0;
}

function mostCommon(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'F32';
}

function renderMergeTable(report: MergeReport, written: { out?: string; masks?: string; yamlPath?: string }): string {
  const percent = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);
  const rows = report.tensors.map((t) => [t.name, percent(t.kept_fraction), percent(t.sign_conflict_fraction), t.task_counts.join(' ')]);
  const params = Object.entries(report.params).map(([k, v]) => `${k}=${v}`).join(' ');
  const files = [
    written.out && `merged model: ${written.out}`,
    written.masks && `masks: ${written.masks}`,
    written.yamlPath && `mergekit configuration: ${written.yamlPath}`,
  ].filter(Boolean);
  return `${report.method} ${params}\n` + renderTable(['name', 'kept', 'sign conflicts', 'weights kept by 0, 1, … tasks'], rows, [1, 2]) + files.map((f) => `${f}\n`).join('');
}
