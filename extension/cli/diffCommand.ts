import { align } from '../compare/align';
import { independentTrainings, INDEPENDENT_TRAININGS_NOTICE } from '../compare/verdict';
import { comparePairs, findAdapterConfig, hasMatrixDelta, loraItems, lowRank, readAdapterConfig, tensorItems, type DiffItem, type PairOutcome } from '../engine/diffEngine';
import type { LowRankSummary } from '../engine/diffTypes';
import { buildDiffReport, type DiffReport } from '../engine/diffReport';
import { ggufHfStages } from '../engine/ggufHfStage';
import type { ScanEngine } from '../engine/scanEngine';
import { FormatError, oneLine } from '../formats/formatError';
import { openCheckpoint } from '../formats/openCheckpoint';
import { nodeSourceOpener } from '../source/nodeFileSource';
import { flagValue, integerFlag, parseArgs, UsageError } from './args';
import { engineFromArgs, ENGINE_FLAGS, printJson, printLine, type Command } from './command';
import { formatShape, formatStat, renderTable } from './table';

const FLAGS = {
  json: {}, lora: {}, histogram: {}, rank: { value: true }, 'adapter-config-a': { value: true }, 'adapter-config-b': { value: true },
  ...ENGINE_FLAGS,
};

export const diffCommand: Command = {
  usage: `  diff A B [--json] [--lora] [--adapter-config-a FILE] [--adapter-config-b FILE] [--histogram] [--rank K]
        [--workers N] [--chunk-size BYTES]
        what changed from checkpoint A to checkpoint B, tensor by tensor (delta = B − A)`,
  details: `  --lora         compare LoRA adapters as the deltas they stand for, ΔW = scale·B·A (scale from adapter_config.json
                 beside each file, or --adapter-config-a/-b, or kohya alpha tensors, else 1)
  --histogram    add each pair's delta histogram ("delta_histogram") to the JSON
  --rank K       add the K leading singular values of each 2-D delta ("low_rank") by randomized SVD`,
  run: runDiffCommand,
};

async function runDiffCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.positionals.length !== 2) throw new UsageError('diff takes exactly two checkpoints, A and B');
  const [aPath, bPath] = args.positionals as [string, string];
  const rank = integerFlag(args, 'rank', 1, 512);
  const lora = args.flags.has('lora');
  for (const side of ['a', 'b']) {
    if (!lora && args.flags.has(`adapter-config-${side}`)) throw new UsageError(`--adapter-config-${side} only applies with --lora`);
  }
  const engine = engineFromArgs(args);
  try {
    const [a, b] = await Promise.all([openCheckpoint(aPath, nodeSourceOpener), openCheckpoint(bPath, nodeSourceOpener)]);
    const itemsOf = async (path: string, side: 'a' | 'b', checkpoint: typeof a): Promise<DiffItem[]> => {
      if (!lora) return tensorItems(checkpoint);
      const explicit = flagValue(args, `adapter-config-${side}`);
      const config = explicit !== undefined ? await readAdapterConfig(explicit, nodeSourceOpener) : await findAdapterConfig(path, nodeSourceOpener);
      return loraItems(checkpoint, engine, config);
    };
    const [itemsA, itemsB] = [await itemsOf(aPath, 'a', a), await itemsOf(bPath, 'b', b)];
    if (lora) for (const [side, items] of [['A', itemsA], ['B', itemsB]] as const) noteLoraScales(side, items);
    const alignment = align(itemsA, itemsB, ggufHfStages(a, b));
    const outcomes = new Map<number, PairOutcome>();
    await comparePairs(engine, alignment.pairs, { onPair: (index, outcome) => outcomes.set(index, outcome) });
    for (const [index, outcome] of outcomes) {
      if (outcome.problem) {
        throw new FormatError(outcome.problem.code, outcome.problem.message, `${aPath} vs ${bPath}`, alignment.pairs[index]!.a.name);
      }
    }
    const lowRanks = rank ? await leadingSingularValues(engine, alignment.pairs, outcomes, rank) : undefined;
    const report = buildDiffReport(aPath, bPath, alignment, outcomes, { histograms: args.flags.has('histogram'), ...(lowRanks ? { lowRank: lowRanks } : {}) });
    warn(report);
    if (args.flags.has('json')) printJson(report);
    else process.stdout.write(renderDiffTable(report));
    return 0;
  } finally {
    engine.dispose();
  }
}

/** Low rank of every changed matrix delta, on the pool. */
async function leadingSingularValues(engine: ScanEngine, pairs: ReturnType<typeof align<DiffItem>>['pairs'], outcomes: ReadonlyMap<number, PairOutcome>, k: number): Promise<Map<number, LowRankSummary>> {
  const results = new Map<number, LowRankSummary>();
  await Promise.all(
    pairs.map(async (pair, index) => {
      const stats = outcomes.get(index)?.analysis?.stats;
      if (!stats || stats.identical || !hasMatrixDelta(pair.a.shape)) return;
      results.set(index, await lowRank(engine, pair.a, pair.b, { k }));
    }),
  );
  return results;
}

/** Which LoRA scale a side's pairs used and where it came from, on stderr: the JSON has no place for it. */
function noteLoraScales(side: 'A' | 'B', items: readonly DiffItem[]): void {
  const pairs = new Map<string, number>();
  for (const item of items) if (item.lora) pairs.set(item.lora.scale.source, (pairs.get(item.lora.scale.source) ?? 0) + 1);
  if (pairs.size === 0) return;
  const sources = [...pairs].map(([source, n]) => `${source} (${n} pair${n === 1 ? '' : 's'})`);
  printLine(`note: LoRA scale of ${side}: ${sources.join('; ')}`);
}

/** Notes for people on stderr (stdout stays one document). */
function warn(report: DiffReport): void {
  const notes: string[] = [];
  if (report.tensors.length === 0 && report.mismatched.length === 0) {
    notes.push('no tensor of A matches a tensor of B by name: these look like different architectures');
  }
  if (independentTrainings(report.tensors)) notes.push(INDEPENDENT_TRAININGS_NOTICE);
  for (const note of notes) process.stderr.write(`weightscope: note: ${note}\n`);
}

function renderDiffTable(report: DiffReport): string {
  const percent = (x: number | null): string => (x === null ? '-' : `${(100 * x).toFixed(2)}%`);
  const rows = report.tensors.map((t) => [
    t.name, formatShape(t.shape), t.dtype_a === t.dtype_b ? t.dtype_a : `${t.dtype_a}→${t.dtype_b}`,
    formatStat(t.rel_delta), formatStat(t.cosine), formatStat(t.max_abs_delta), percent(t.changed_fraction), percent(t.sign_flip_fraction),
    t.identical ? 'identical' : '',
  ]);
  const head = `A: ${report.a.path}\nB: ${report.b.path}\n${report.tensors.length} pair(s), ${report.only_a.length} only in A, ${report.only_b.length} only in B, ${report.mismatched.length} mismatched\n`;
  const lists = [
    ...report.mismatched.map((m) => `mismatched: ${m.name} ${formatShape(m.shape_a)} ${m.dtype_a} vs ${formatShape(m.shape_b)} ${m.dtype_b}`),
    ...report.only_a.map((n) => `only in A: ${n}`),
    ...report.only_b.map((n) => `only in B: ${n}`),
  ];
  return head + renderTable(['name', 'shape', 'dtype', 'rel Δ', 'cosine', 'max |Δ|', 'changed', 'sign flips', ''], rows, [3, 4, 5, 6, 7]) + lists.map((l) => oneLine(l) + '\n').join('');
}
