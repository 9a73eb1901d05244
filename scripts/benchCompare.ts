/**
 * Throughput of `diff` and `merge` against their raw baselines, on the compute pool the CLI uses (run by
 * scripts/bench.mjs): a diff is compared with the same lockstep positional reads of both files into WASM memory
 * with no compute; a merge with a raw copy (the same reads of every input, the base's bytes written to an output of
 * the same layout). Prints one JSON line.
 *
 *   node --import tsx scripts/benchCompare.ts diff A B [--workers N]
 *   node --import tsx scripts/benchCompare.ts merge OUT BASE MODEL... [--workers N] [--method M]
 */
import { join } from 'node:path';
import { align } from '../extension/compare/align';
import { comparePairs, tensorItems } from '../extension/engine/diffEngine';
import { matchModels, runMerge } from '../extension/engine/mergeEngine';
import { OutputFile } from '../extension/engine/outputFile';
import { ScanEngine } from '../extension/engine/scanEngine';
import { elementCount } from '../extension/formats/checkpoint';
import { openCheckpoint } from '../extension/formats/openCheckpoint';
import { planSafetensors } from '../extension/formats/safetensorsLayout';
import { resolveParams, type MergeMethod } from '../extension/merge/methods';
import { nodeSourceOpener } from '../extension/source/nodeFileSource';
import type { TensorLocation } from '../extension/formats/checkpoint';

const argv = process.argv.slice(2);
const flag = (name: string, fallback: string): string => (argv.includes(name) ? argv[argv.indexOf(name) + 1]! : fallback);
const positional = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
const [mode, ...paths] = positional;
const workers = Number(flag('--workers', '2'));
const engine = new ScanEngine({ distDir: join(__dirname, '../dist'), workers });

async function timed<T>(run: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const start = process.hrtime.bigint();
  const result = await run();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
}

/** The same chunks of every location read into the pool's WASM slots, largest group first, nothing computed. */
function readAll(groups: TensorLocation[][], copyTo?: (index: number) => { path: string; offset: number }): Promise<number[]> {
  const order = groups.map((g, i) => ({ g, i })).sort((x, y) => y.g[0]!.bytes - x.g[0]!.bytes);
  return Promise.all(order.map(({ g, i }) => engine.pool.run('readThrough', { locations: g, chunkBytes: engine.chunkBytes, ...(copyTo ? { copyTo: copyTo(i) } : {}) })));
}

async function benchDiff(a: string, b: string): Promise<Record<string, number>> {
  const [ca, cb] = await Promise.all([openCheckpoint(a, nodeSourceOpener), openCheckpoint(b, nodeSourceOpener)]);
  const pairs = align(tensorItems(ca), tensorItems(cb)).pairs;
  const locations = pairs.map((p) => [p.a, p.b].map((x) => (x.operand as { location: TensorLocation }).location));
  const bytes = locations.flat().reduce((s, t) => s + t.bytes, 0);
  await readAll(locations); // warm the workers and the page cache
  const raw = Math.min((await timed(() => readAll(locations))).seconds, (await timed(() => readAll(locations))).seconds);
  const diff = Math.min((await timed(() => comparePairs(engine, pairs))).seconds, (await timed(() => comparePairs(engine, pairs))).seconds);
  return { bytes, rawSeconds: raw, diffSeconds: diff, rawGBs: bytes / raw / 1e9, diffGBs: bytes / diff / 1e9, ratio: raw / diff };
}

async function benchMerge(out: string, basePath: string, modelPaths: string[]): Promise<Record<string, number | string>> {
  const method = flag('--method', 'ties') as MergeMethod;
  const open = async (path: string) => ({ path, checkpoint: await openCheckpoint(path, nodeSourceOpener) });
  const base = await open(basePath);
  const models = await Promise.all(modelPaths.map(open));
  const rows = matchModels(base, models);
  const bytesRead = rows.reduce((s, r) => s + r.base.bytes + r.tasks.reduce((t, x) => t + x.bytes, 0), 0);
  const written = rows.reduce((s, r) => s + r.base.bytes, 0);
  const copy = async (): Promise<void> => {
    const plan = planSafetensors(rows.map((r) => ({ name: r.base.name, dtype: r.base.dtype, shape: r.base.shape, bytes: r.base.bytes })), {});
    const file = await OutputFile.create(out, plan);
    await readAll(rows.map((r) => [r.base, ...r.tasks]), (i) => ({ path: file.tempPath, offset: plan.offsets[i]! }));
    await file.commit();
  };
  const merge = async (): Promise<void> => {
    await runMerge(engine, { method, params: resolveParams(method, {}, models.length), base, models, rows, out });
  };
  await copy();
  const raw = Math.min((await timed(copy)).seconds, (await timed(copy)).seconds);
  const merged = Math.min((await timed(merge)).seconds, (await timed(merge)).seconds);
  const elements = rows.reduce((s, r) => s + elementCount(r.base.shape), 0);
  return { method, tasks: models.length, elements, bytesRead, bytesWritten: written, copySeconds: raw, mergeSeconds: merged,
    copyWriteGBs: written / raw / 1e9, mergeWriteGBs: written / merged / 1e9, ratio: raw / merged };
}

const started = process.hrtime.bigint();
(mode === 'diff' ? benchDiff(paths[0]!, paths[1]!) : benchMerge(paths[0]!, paths[1]!, paths.slice(2)))
  .then((result) => {
    console.log(JSON.stringify({ mode, workers, chunkBytes: engine.chunkBytes, ...result, peakRssMB: process.resourceUsage().maxRSS / 1024, totalSeconds: Number(process.hrtime.bigint() - started) / 1e9 }));
  })
  .finally(() => engine.dispose());
