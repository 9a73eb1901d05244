import { DEFAULT_TOP, hasOutlierAnalysis, outliersDocument, runOutliers, MIN_RANKED } from '../engine/outliers';
import { integerFlag, parseArgs, UsageError } from './args';
import { analyseSelected, ENGINE_FLAGS, engineFromArgs, printJson, type Command } from './command';
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
  const engine = engineFromArgs(args);
  try {
    const { entries, outcomes } = await analyseSelected(args, hasOutlierAnalysis, (entries, indices, onProgress) =>
      runOutliers(engine.pool, entries, indices, { top: Math.max(top, MIN_RANKED), chunkBytes: engine.chunkBytes, onProgress }));
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
