import { openCheckpoint } from '../formats/openCheckpoint';
import { nodeSourceOpener } from '../source/nodeFileSource';
import { ArgumentError, computeTile, resolveTileRequest, type Tile } from '../engine/tiles';
import type { TileReducer } from '../engine/wasmCore';
import { oneLine } from '../formats/formatError';
import { flagValue, parseArgs, UsageError } from './args';
import { engineFromArgs, ENGINE_FLAGS, printJson, type Command } from './command';
import { formatStat } from './table';
import { finiteOrNull, findTensor, parseRange, parseSize } from './tensorArgs';

const FLAGS = {
  json: {}, tensor: { value: true }, rows: { value: true }, cols: { value: true }, size: { value: true }, reduce: { value: true },
  ...ENGINE_FLAGS,
};

export const tileCommand: Command = {
  usage: `  tile PATH --tensor NAME [--rows A:B] [--cols C:D] --size HxW --reduce mean|absmax|min|max [--json]
        a tensor (as the matrix [dim0, product of the rest]) reduced to H × W cells`,
  run: runTile,
};

async function runTile(argv: string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.positionals.length !== 1) throw new UsageError('tile takes exactly one PATH');
  const name = flagValue(args, 'tensor');
  if (name === undefined) throw new UsageError('--tensor NAME is required');
  const reduce = flagValue(args, 'reduce');
  if (reduce === undefined) throw new UsageError('--reduce mean|absmax|min|max is required');
  const request = { rows: parseRange(flagValue(args, 'rows'), 'rows'), cols: parseRange(flagValue(args, 'cols'), 'cols'), size: parseSize(flagValue(args, 'size')), reduce: reduce as TileReducer };
  const engine = engineFromArgs(args);
  try {
    const checkpoint = await openCheckpoint(args.positionals[0]!, nodeSourceOpener);
    const entry = findTensor(checkpoint, name);
    let rect;
    try {
      rect = resolveTileRequest(entry.shape, request);
    } catch (error) {
      throw error instanceof ArgumentError ? new UsageError(`${name}: ${error.message}`) : error;
    }
    const tile = await computeTile(engine.pool, { kind: 'tensor', location: entry }, rect, { chunkBytes: engine.chunkBytes });
    if (args.flags.has('json')) printJson(tileDocument(name, tile));
    else process.stdout.write(renderTile(name, tile));
  } finally {
    engine.dispose();
  }
  return 0;
}

/** The `tile --json` document, keys in the documented order. */
export function tileDocument(name: string, tile: Tile) {
  const [h, w] = tile.size;
  const values = Array.from({ length: h }, (_, i) => Array.from(tile.values.subarray(i * w, (i + 1) * w), finiteOrNull));
  return { tensor: name, rows: tile.rows, cols: tile.cols, size: tile.size, reduce: tile.reduce, values };
}

function renderTile(name: string, tile: Tile): string {
  const [h, w] = tile.size;
  const head = `${oneLine(name)} rows ${tile.rows[0]}:${tile.rows[1]} cols ${tile.cols[0]}:${tile.cols[1]} → ${h} × ${w} (${tile.reduce})\n`;
  const lines = Array.from({ length: h }, (_, i) => Array.from(tile.values.subarray(i * w, (i + 1) * w), (v) => formatStat(finiteOrNull(v)).padStart(10)).join(' '));
  return head + lines.join('\n') + '\n';
}
