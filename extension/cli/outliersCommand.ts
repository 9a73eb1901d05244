import { openCheckpoint } from '../formats/openCheckpoint';
import { nodeSourceOpener } from '../source/nodeFileSource';
import { DEFAULT_TOP, hasOutlierAnalysis, outliersDocument, runOutliers, MIN_RANKED } from '../engine/outliers';
import { integerFlag, parseArgs, UsageError } from './args';
import { ENGINE_FLAGS, engineFromArgs, nameFilter, printJson, printSkipped, type Command } from './command';
import { progressLineFor } from './progress';
import { formatShape, formatStat, renderTable } from './table';

const FLAGS = { json: {}, top: { value: true }, filter: { value: true }, ...ENGINE_FLAGS };
const MAX_TOP = 65536;

export const outliersCommand: Command = {
  usage: `  outliers PATH [--top K] [--json] [--filter GLOB] [--workers N] [--chunk-size BYTES]
        outlier rows, columns and scalars of every matrix, and super-weight candidates`,
  run: runOutliersCommand,
};

async function runOutliersCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.positionals.length !== 1) throw new UsageError('outliers takes exactly one PATH');
  const top = integerFlag(args, 'top', 1, MAX_TOP) ?? DEFAULT_TOP;
  const filter = nameFilter(args);
  const engine = engineFromArgs(args);
  try {
    const checkpoint = await openCheckpoint(args.positionals[0]!, nodeSourceOpener);
    const entries = checkpoint.tensors;
    const indices = entries.flatMap((t, i) => (hasOutlierAnalysis(t) && filter(t.name) ? [i] : []));
    const totalBytes = indices.reduce((sum, i) => sum + entries[i]!.bytes, 0);
    const progress = progressLineFor(args, totalBytes);
    const outcomes = await runOutliers(engine.pool, entries, indices, {
      top: Math.max(top, MIN_RANKED),
      chunkBytes: engine.chunkBytes,
      onProgress: (done) => progress?.update(done),
    });
    progress?.clear();
    for (const i of indices) {
      const problem = outcomes.get(i)?.problem;
      if (problem) printSkipped(entries[i]!.name, `${problem.code}: ${problem.message}`);
    }
    const document = outliersDocument(entries, outcomes, top);
    if (args.flags.has('json')) printJson(document);
    else process.stdout.write(renderOutliers(document));
  } finally {
    engine.dispose();
  }
  return 0;
}

function renderOutliers(doc: ReturnType<typeof outliersDocument>): string {
  const rows = doc.tensors.map((t) => {
    const scalar = t.top_scalars[0];
    return [
      t.name, formatShape(t.shape), formatStat(t.row_outlier_ratio), formatStat(t.col_outlier_ratio),
      t.top_cols.slice(0, 3).map((c) => c.index).join(' '),
      scalar ? `${formatStat(scalar.value)} at [${scalar.row}, ${scalar.col}] z ${formatStat(scalar.z)}` : '',
    ];
  });
  const table = renderTable(['name', 'shape', 'row ratio', 'col ratio', 'top cols', 'largest scalar'], rows, [2, 3]);
  const candidates = doc.super_weight_candidates.length === 0
    ? 'super-weight candidates: none\n'
    : `super-weight candidates:\n${doc.super_weight_candidates.map((c) => `  ${c.tensor} [${c.row}, ${c.col}] = ${formatStat(c.value)}`).join('\n')}\n`;
  return `${table}\n${candidates}`;
}
