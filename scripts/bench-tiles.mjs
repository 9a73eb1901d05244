// Heatmap tile benchmark (not part of the tests): on a generated 4096 × 14336 BF16 tensor, the cost of an overview
// tile and of a zoomed tile against a raw read of the same bytes (the same positional reads into WASM memory, no
// compute). Budget: an overview costs at most 1.5 × the raw read; a zoomed tile reads only its rows.
//
//   node --import tsx scripts/bench-tiles.mjs [--repeat N]
import { mkdtempSync, openSync, rmSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint } from '../extension/formats/openCheckpoint.ts';
import { nodeSourceOpener } from '../extension/source/nodeFileSource.ts';
import { ScanEngine, DEFAULT_CHUNK_BYTES } from '../extension/engine/scanEngine.ts';
import { computeTile, resolveTileRequest } from '../extension/engine/tiles.ts';
import { WasmCore } from '../extension/engine/wasmCore.ts';
import { FileTable, openTensorReader } from '../extension/engine/tensorReader.ts';

const ROWS = 4096;
const COLS = 14336;
const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
const repeat = process.argv.includes('--repeat') ? Number(process.argv[process.argv.indexOf('--repeat') + 1]) : 5;

/** Writes the tensor row by row (seeded, never held whole). */
function writeTensor(path) {
  const header = JSON.stringify({ 'w.weight': { dtype: 'BF16', shape: [ROWS, COLS], data_offsets: [0, ROWS * COLS * 2] } });
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  const fd = openSync(path, 'w');
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.length));
  writeSync(fd, length);
  writeSync(fd, Buffer.from(padded));
  let state = 12345;
  const row = new Uint16Array(COLS);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let r = 0; r < ROWS; r++) {
    for (let c = 0; c < COLS; c++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      f32[0] = ((state / 2 ** 32) - 0.5) * (c % 1000 === 7 ? 2 : 0.04);
      row[c] = u32[0] >>> 16;
    }
    writeSync(fd, new Uint8Array(row.buffer));
  }
  closeSync(fd);
}

function median(times) {
  const sorted = [...times].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function time(label, run) {
  await run(); // warm the page cache and the workers
  const times = [];
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  const ms = median(times);
  console.log(`${label.padEnd(46)} ${ms.toFixed(1).padStart(8)} ms (median of ${repeat})`);
  return ms;
}

const dir = mkdtempSync(join(tmpdir(), 'weightscope-bench-tiles-'));
try {
  const file = join(dir, 'bench.safetensors');
  writeTensor(file);
  const checkpoint = await openCheckpoint(file, nodeSourceOpener);
  const tensor = checkpoint.tensors[0];
  console.log(`tensor ${tensor.name} BF16 [${ROWS}, ${COLS}], ${(tensor.bytes / 2 ** 20).toFixed(0)} MiB, chunks of ${DEFAULT_CHUNK_BYTES >> 20} MiB`);

  const core = WasmCore.load(readFileSync(join(dist, 'weightscope.wasm')));
  const files = new FileTable();
  const rawRead = async (fromRow, toRow) => {
    const reader = openTensorReader(tensor, files);
    const end = toRow * COLS * 2;
    for (let at = fromRow * COLS * 2; at < end; at += DEFAULT_CHUNK_BYTES) {
      const len = Math.min(DEFAULT_CHUNK_BYTES, end - at);
      await reader.read(at, core.input(len));
    }
    reader.close();
  };
  const raw = await time('raw read of the whole tensor (1 thread)', () => rawRead(0, ROWS));

  const engine = new ScanEngine({ distDir: dist });
  const tile = (request) => () => computeTile(engine.pool, { kind: 'tensor', location: tensor }, resolveTileRequest(tensor.shape, request), { chunkBytes: engine.chunkBytes });
  const overviewAbsmax = await time(`overview 1024×1024 absmax (${engine.workerCount} workers)`, tile({ size: [1024, 1024], reduce: 'absmax' }));
  const overviewMean = await time(`overview 1024×1024 mean (${engine.workerCount} workers)`, tile({ size: [1024, 1024], reduce: 'mean' }));
  const oneWorker = (request) => () => computeTile(engine.pool, { kind: 'tensor', location: tensor }, resolveTileRequest(tensor.shape, request), { chunkBytes: engine.chunkBytes, maxParts: 1 });
  const overviewSingle = await time('overview 1024×1024 absmax (1 worker)', oneWorker({ size: [1024, 1024], reduce: 'absmax' }));
  const zoomRaw = await time('raw read of rows 1000:1256', () => rawRead(1000, 1256));
  const zoom = await time('zoomed 256 rows × 14336 cols → 256×1024 mean', tile({ rows: [1000, 1256], size: [256, 1024], reduce: 'mean' }));
  const zoomNarrow = await time('zoomed 256 rows × 2048 cols → 256×1024 mean', tile({ rows: [1000, 1256], cols: [5000, 7048], size: [256, 1024], reduce: 'mean' }));
  engine.dispose();
  files.closeAll();
  console.log(`\noverview absmax / raw read: ${(overviewAbsmax / raw).toFixed(2)}× (budget 1.5×)`);
  console.log(`overview mean / raw read:   ${(overviewMean / raw).toFixed(2)}×`);
  console.log(`overview on one worker / raw read: ${(overviewSingle / raw).toFixed(2)}×`);
  console.log(`zoomed (256 of ${ROWS} rows) / raw read of those rows: ${(zoom / zoomRaw).toFixed(2)}×; narrow columns: ${(zoomNarrow / zoomRaw).toFixed(2)}×`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
