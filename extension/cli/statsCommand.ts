import { openCheckpoint } from '../formats/openCheckpoint';
import { nodeSourceOpener } from '../source/nodeFileSource';
import type { TensorOutcome } from '../engine/scanEngine';
import { buildStatsReport, type StatsReport } from '../engine/statsReport';
import { parseArgs, UsageError } from './args';
import { ENGINE_FLAGS, engineFromArgs, nameFilter, printFindings, printJson, type Command } from './command';
import { progressLineFor } from './progress';
import { formatBytes, formatShape, formatStat, renderTable } from './table';

const FLAGS = { json: {}, filter: { value: true }, ...ENGINE_FLAGS };

export const statsCommand: Command = {
  usage: `  stats PATH [--json] [--filter GLOB] [--workers N] [--chunk-size BYTES]
        per-tensor statistics of a checkpoint file, a *.index.json or a folder`,
  run: runStats,
};

async function runStats(argv: string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.positionals.length !== 1) throw new UsageError('stats takes exactly one PATH');
  const filter = nameFilter(args);
  const engine = engineFromArgs(args);

  const checkpoint = await openCheckpoint(args.positionals[0]!, nodeSourceOpener);
  // Security findings (pickle globals that would run code) go to stderr so stdout stays the documented document.
  printFindings(checkpoint.findings);
  const indices = checkpoint.tensors.flatMap((t, i) => (filter(t.name) ? [i] : []));
  const entries = indices.map((i) => checkpoint.tensors[i]!);
  const totalBytes = entries.reduce((sum, t) => sum + t.bytes, 0);

  const outcomes = new Map<number, TensorOutcome>();
  const progress = progressLineFor(args, totalBytes);
  try {
    await engine.scan(entries, {
      onTensor: (outcome) => outcomes.set(indices[outcome.index]!, outcome),
      onProgress: (doneBytes) => progress?.update(doneBytes),
    });
  } finally {
    progress?.clear();
    engine.dispose();
  }
  const report = buildStatsReport(checkpoint, outcomes, indices);
  if (args.flags.has('json')) printJson(report);
  else process.stdout.write(renderStatsTable(report));
  return 0;
}

function renderStatsTable(report: StatsReport): string {
  const rows = report.tensors.map((t) => {
    const s = t.stats;
    const flags = s ? [s.nan ? `${s.nan} NaN` : '', s.posinf + s.neginf ? `${s.posinf + s.neginf} Inf` : ''].filter(Boolean).join(' ') : '';
    return [
      t.name, t.dtype, formatShape(t.shape), formatBytes(t.bytes),
      ...(s ? [s.mean, s.std, s.min, s.max, s.absmax, s.kurtosis].map(formatStat) : ['', '', '', '', '', '']),
      t.error ? `${t.error.code}: ${t.error.message}` : flags,
    ];
  });
  const totalBytes = report.tensors.reduce((sum, t) => sum + t.bytes, 0);
  const head = `${report.format}: ${report.files.length} file(s), ${report.tensors.length} tensor(s), ${formatBytes(totalBytes)}\n`;
  return head + renderTable(['name', 'dtype', 'shape', 'size', 'mean', 'std', 'min', 'max', 'absmax', 'kurtosis', 'notes'], rows, [4, 5, 6, 7, 8, 9]);
}
