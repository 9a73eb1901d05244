/** `weightscope saliency`: which weights and input channels matter, from the weights alone or joined with activations. */
import { openActivationStats } from '../activations/openActivations';
import type { ActivationStats } from '../activations/activationStats';
import { TaskError } from '../engine/computePool';
import {
  analyseSaliency, buildSaliencyReport, DEFAULT_ALPHA, DEFAULT_TOP, MAX_TOP, needsActivations, planSaliency, statisticProblem, type SaliencyReport,
} from '../engine/saliency';
import { DEFAULT_RANK, MAX_RANK, SALIENCY_METHODS, type SaliencyAnalysis, type SaliencyMethod } from '../engine/saliencyTypes';
import { FormatError, oneLine } from '../formats/formatError';
import { openCheckpoint } from '../formats/openCheckpoint';
import { nodeSourceOpener } from '../source/nodeFileSource';
import { flagValue, integerFlag, numberFlag, parseArgs, UsageError } from './args';
import { ENGINE_FLAGS, engineFromArgs, nameFilter, printFindings, printJson, printSkipped, type Command } from './command';
import { progressLineFor } from './progress';
import { formatShape, formatStat, renderTable } from './table';

const FLAGS = {
  json: {}, activations: { value: true }, method: { value: true }, alpha: { value: true }, rank: { value: true },
  top: { value: true }, filter: { value: true }, ...ENGINE_FLAGS,
};
/** Channels and weights shown per tensor in the table. */
const TABLE_SHOWN = 3;

export const saliencyCommand: Command = {
  usage: `  saliency PATH [--activations FILE] --method ${SALIENCY_METHODS.join('|')} [--alpha A] [--rank R]
           [--top K] [--json] [--filter GLOB] [--workers N] [--chunk-size BYTES]
        the most salient input channels and weights of every matrix; wanda, awq, smoothquant and obs join
        the weights with imported activation statistics (llama.cpp imatrix .gguf/.dat, act_scales .pt,
        safetensors/.npz); lift ranks the weights of the rank-R approximation (--rank, default ${DEFAULT_RANK})`,
  run: runSaliencyCommand,
};

async function runSaliencyCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.positionals.length !== 1) throw new UsageError('saliency takes exactly one PATH');
  const methodText = flagValue(args, 'method');
  if (methodText === undefined) throw new UsageError(`saliency needs --method (${SALIENCY_METHODS.join(', ')})`);
  if (!(SALIENCY_METHODS as readonly string[]).includes(methodText)) {
    throw new UsageError(`--method is one of ${SALIENCY_METHODS.join(', ')}, not "${methodText}"`);
  }
  const method = methodText as SaliencyMethod;
  const alpha = numberFlag(args, 'alpha', 0, 1) ?? DEFAULT_ALPHA;
  const top = integerFlag(args, 'top', 1, MAX_TOP) ?? DEFAULT_TOP;
  const rank = integerFlag(args, 'rank', 1, MAX_RANK) ?? DEFAULT_RANK;
  const filter = nameFilter(args);
  const activationsPath = flagValue(args, 'activations');

  const engine = engineFromArgs(args);
  try {
    const checkpoint = await openCheckpoint(args.positionals[0]!, nodeSourceOpener);
    const stats: ActivationStats | undefined = activationsPath === undefined ? undefined : await openActivationStats(activationsPath, nodeSourceOpener);
    printFindings(checkpoint.findings);
    printFindings(stats?.findings);
    const problem = statisticProblem(method, stats);
    if (problem) throw new UsageError(problem);
    const plan = planSaliency(checkpoint, method, stats, filter);
    if (stats && needsActivations(method) && plan.unmatched.length === stats.entries.length) {
      const example = stats.entries[0]!.name;
      throw new FormatError('ACTIVATIONS_MISMATCH', `none of its ${stats.entries.length} entries names a tensor of ${args.positionals[0]} (such as "${example}"): statistics of another model?`, stats.file);
    }
    for (const { name, code, message } of plan.skipped) printSkipped(name, `${code}: ${message}`);
    const totalBytes = plan.targets.reduce((sum, t) => sum + t.entry.bytes, 0);
    const progress = progressLineFor(args, totalBytes);
    let doneBytes = 0;
    const onProgress = (bytes: number): void => progress?.update((doneBytes += bytes));
    // The table also shows how LIFT's principal weights overlap the largest ones (more passes); the JSON does not.
    const lift = { rank, overlaps: !args.flags.has('json') };
    const outcomes = await Promise.all(plan.targets.map(async (target) => {
      try {
        return { name: target.entry.name, shape: target.entry.shape, analysis: await analyseSaliency(engine.pool, target, { method, alpha, top, chunkBytes: engine.chunkBytes, lift, onProgress }) };
      } catch (error) {
        const failure = error instanceof TaskError ? error : new TaskError('READ_ERROR', String(error));
        printSkipped(target.entry.name, `${failure.code}: ${failure.message}`);
        return undefined;
      }
    }));
    progress?.clear();
    const results = outcomes.filter((o): o is { name: string; shape: readonly number[]; analysis: SaliencyAnalysis } => o !== undefined);
    const report = buildSaliencyReport(method, results, plan.unmatched);
    if (args.flags.has('json')) printJson(report);
    else process.stdout.write(renderSaliencyTable(report, results));
    return 0;
  } finally {
    engine.dispose();
  }
}

/** The share of LIFT's principal weights (top 5 % by |W_r|) also in the top 5 % by |W|. */
function magnitudeOverlap(overlaps: SaliencyAnalysis['overlaps']): string {
  return overlaps && overlaps.principal > 0 ? `${((100 * overlaps.withMagnitude) / overlaps.principal).toFixed(1)} %` : '—';
}

/** A ranked score; null in a ranking is +Inf (NaN is never ranked). */
function score(value: number | null): string {
  return value === null ? 'inf' : formatStat(value);
}

function renderSaliencyTable(report: SaliencyReport, results: readonly { name: string; shape: readonly number[]; analysis: SaliencyAnalysis }[]): string {
  const lift = report.method === 'lift';
  const rows = report.tensors.map((t, i) => [
    t.name,
    formatShape(results[i]!.shape),
    t.top_channels.slice(0, TABLE_SHOWN).map((c) => `${c.index} (${score(c.score)})`).join(', '),
    t.top_weights.slice(0, TABLE_SHOWN).map((w) => `[${w.row}, ${w.col}] (${score(w.score)})`).join(', '),
    ...(lift ? [magnitudeOverlap(results[i]!.analysis.overlaps)] : []),
  ]);
  const table = rows.length > 0
    ? renderTable(['name', 'shape', `top channels (${report.method} score)`, 'top weights', ...(lift ? ['principal ∩ top |W|'] : [])], rows, [])
    : `${report.method}: no weight to analyse\n`;
  const unmatched = report.unmatched.length > 0 ? `\nunmatched activation entries (${report.unmatched.length}): ${oneLine(report.unmatched.join(', '))}\n` : '';
  return table + unmatched;
}
