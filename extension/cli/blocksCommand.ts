/** `weightscope blocks`: block diagnostics of every GGUF quantized tensor (scales, edges, where large scales sit). */
import { analyseBlocks, isBlockQuantized } from '../engine/blockDiagnostics';
import type { BlockAnalysis } from '../engine/blocksTypes';
import { filesOf, placeOf, type TensorPlace } from '../engine/statsReport';
import { openCheckpoint } from '../formats/openCheckpoint';
import { nodeSourceOpener } from '../source/nodeFileSource';
import { integerFlag, parseArgs, UsageError } from './args';
import { ENGINE_FLAGS, engineFromArgs, nameFilter, printJson, type Command } from './command';
import { formatShape, formatStat, renderTable } from './table';

const FLAGS = { json: {}, tensor: { value: true, repeat: true }, filter: { value: true }, grid: { value: true }, ...ENGINE_FLAGS };
const DEFAULT_GRID = 64;
const MAX_GRID = 1024;

export interface BlocksTensorReport extends TensorPlace {
  analysis: BlockAnalysis | null;
  error: { code: string; message: string } | null;
}

export interface BlocksReport {
  format: string;
  files: { path: string; bytes: number }[];
  tensors: BlocksTensorReport[];
}

export const blocksCommand: Command = {
  usage: `  blocks PATH [--tensor NAME]... [--filter GLOB] [--grid N] [--json] [--workers N] [--chunk-size BYTES]
        block diagnostics of quantized (GGUF) tensors: scale distributions, scales and codes at the edge of
        their range, and a grid of at most N × N cells (default ${DEFAULT_GRID}) of the largest |d|`,
  run: runBlocks,
};

async function runBlocks(argv: string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.positionals.length !== 1) throw new UsageError('blocks takes exactly one PATH');
  const grid = integerFlag(args, 'grid', 1, MAX_GRID) ?? DEFAULT_GRID;
  const filter = nameFilter(args);
  const wanted = args.flags.get('tensor') ?? [];
  const engine = engineFromArgs(args);
  try {
    const checkpoint = await openCheckpoint(args.positionals[0]!, nodeSourceOpener);
    for (const name of wanted) {
      const tensor = checkpoint.tensors.find((t) => t.name === name);
      if (!tensor) throw new UsageError(`no tensor named "${name}"`);
      if (!isBlockQuantized(tensor.dtype)) throw new UsageError(`"${name}" is ${tensor.dtype}, not a block-quantized type`);
    }
    const selected = checkpoint.tensors.filter((t) =>
      wanted.length > 0 ? wanted.includes(t.name) : isBlockQuantized(t.dtype) && filter(t.name));
    const tensors = await Promise.all(selected.map(async (t): Promise<BlocksTensorReport> => ({
      ...placeOf(t),
      ...(await analyseBlocks(engine, t, grid)),
    })));
    const report: BlocksReport = { format: checkpoint.format, files: filesOf(checkpoint), tensors };
    if (args.flags.has('json')) printJson(report);
    else process.stdout.write(renderBlocksTable(report));
    return 0;
  } finally {
    engine.dispose();
  }
}

function percent(fraction: number): string {
  return `${(100 * fraction).toPrecision(3)}%`;
}

/** Where the largest cell of the grid is, as tensor rows and block columns. */
function largestCell(a: BlockAnalysis): string {
  let best: { value: number; r: number; c: number } | undefined;
  a.grid.cells.forEach((row, r) => row.forEach((v, c) => {
    if (v !== null && (!best || v > best.value)) best = { value: v, r, c };
  }));
  if (!best) return '';
  const { rowsPerCell, blocksPerCell } = a.grid;
  const rows = `${best.r * rowsPerCell}–${Math.min(a.rows, (best.r + 1) * rowsPerCell) - 1}`;
  const blocks = `${best.c * blocksPerCell}–${Math.min(a.blocksPerRow, (best.c + 1) * blocksPerCell) - 1}`;
  return `rows ${rows}, blocks ${blocks}`;
}

function renderBlocksTable(report: BlocksReport): string {
  if (report.tensors.length === 0) return `${report.format}: no block-quantized tensors\n`;
  const rows = report.tensors.map((t) => {
    const a = t.analysis;
    if (!a) return [t.name, t.dtype, formatShape(t.shape), '', '', '', '', '', '', `${t.error!.code}: ${t.error!.message}`];
    const d = a.scales.d?.stats ?? a.scales.subBlock?.stats;
    const edges = a.scaleEdges.zero + a.scaleEdges.subnormal + a.scaleEdges.nonFinite;
    return [
      t.name, t.dtype, formatShape(t.shape), a.blocks.toLocaleString('en-US'),
      formatStat(d?.quantiles['0.5'] ?? null), formatStat(d?.quantiles['0.99'] ?? null), formatStat(d?.absmax ?? null),
      edges > 0 ? `${a.scaleEdges.zero}/${a.scaleEdges.subnormal}/${a.scaleEdges.nonFinite}` : '0',
      a.saturation ? percent(a.saturation.blockFraction) : '-',
      largestCell(a),
    ];
  });
  return renderTable(['name', 'dtype', 'shape', 'blocks', 'd median', 'd p99', 'd max', 'zero/sub/nonfinite d', 'saturated', 'largest |d| at'], rows, [3, 4, 5, 6, 8]);
}
