/**
 * Merging several fine-tunes of one base on the compute pool: matching every fine-tune's tensors to the base's,
 * planning the output files (headers written first, then every tensor's data streamed into its place by the
 * workers), and collecting per-tensor statistics. Used by the CLI and the editor's merge preview.
 */
import { setMaxListeners } from 'node:events';
import { version } from '../../package.json';
import { align } from '../compare/align';
import type { Checkpoint, TensorEntry } from '../formats/checkpoint';
import { elementCount } from '../formats/checkpoint';
import { FormatError } from '../formats/formatError';
import { planSafetensors, type PlannedTensor } from '../formats/safetensorsLayout';
import type { MergeMethod } from '../merge/methods';
import { TaskError } from './computePool';
import type { MergeTensorStats } from './diffTypes';
import { OutputFile } from './outputFile';
import type { ScanEnd, ScanEngine } from './scanEngine';
import { byteSpan } from './tasks/chunks';
import type { MergeSpec, MergeTargets } from './tasks/merge';

export interface MergeInput {
  path: string;
  checkpoint: Checkpoint;
}

/** One base tensor and the matching tensor of every fine-tune. */
export interface MergeRow {
  base: TensorEntry;
  tasks: TensorEntry[];
}

/** Dtypes the core can both decode and encode, so a merged tensor can be written in the base's dtype. */
const WRITABLE = new Set(['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F8_E4M3FNUZ', 'F8_E5M2FNUZ', 'F6_E2M3', 'F6_E3M2', 'F4',
  'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL']);

/**
 * Every base tensor with its counterpart in each fine-tune (names aligned as `diff` aligns them). Fine-tunes must
 * have the base's tensors and shapes, nothing more: anything else is a different architecture.
 */
export function matchModels(base: MergeInput, models: readonly MergeInput[]): MergeRow[] {
  const rows = base.checkpoint.tensors.map((t) => ({ base: t, tasks: [] as TensorEntry[] }));
  const index = new Map(base.checkpoint.tensors.map((t, i) => [t, i]));
  for (const model of models) {
    const alignment = align(base.checkpoint.tensors, model.checkpoint.tensors);
    const problem = (message: string, tensor: string): FormatError => new FormatError('INCOMPATIBLE_CHECKPOINTS', message, model.path, tensor);
    const mismatch = alignment.mismatched.find((m) => m.a.shape.length !== m.b.shape.length || m.a.shape.some((d, i) => d !== m.b.shape[i]));
    if (mismatch) {
      throw problem(`"${mismatch.b.name}" has shape [${mismatch.b.shape.join(', ')}], the base's "${mismatch.a.name}" [${mismatch.a.shape.join(', ')}]: not a fine-tune of this base`, mismatch.b.name);
    }
    const missing = alignment.onlyA;
    if (missing.length > 0) {
      throw problem(`lacks ${missing.length} tensor(s) of the base, such as "${missing[0]!.name}": not a fine-tune of this base`, missing[0]!.name);
    }
    if (alignment.onlyB.length > 0) {
      throw problem(`has ${alignment.onlyB.length} tensor(s) the base lacks, such as "${alignment.onlyB[0]!.name}": not a fine-tune of this base`, alignment.onlyB[0]!.name);
    }
    for (const pair of alignment.pairs) rows[index.get(pair.a)!]!.tasks.push(pair.b);
  }
  for (const row of rows) {
    for (const [t, file] of [[row.base, base.path], ...row.tasks.map((t, i) => [t, models[i]!.path] as const)] as const) {
      if (t.problem) throw new FormatError(t.problem.code, t.problem.message, file, t.name);
    }
    if (!WRITABLE.has(row.base.dtype)) throw new FormatError('UNSUPPORTED_DTYPE', `a merged ${row.base.dtype} tensor cannot be written`, base.path, row.base.name);
  }
  return rows;
}

export interface MergeRequest {
  method: MergeMethod;
  /** Effective parameters (resolveParams). */
  params: Readonly<Record<string, number>>;
  base: MergeInput;
  models: readonly MergeInput[];
  rows: readonly MergeRow[];
  /** Where to write the merged model and the masks; neither means statistics only. */
  out?: string;
  masks?: string;
}

/** Names of the mask tensors of one base tensor: one per task (1-based, in --models order), then consensus. */
export function maskNames(method: MergeMethod, name: string, tasks: number): string[] {
  const names = Array.from({ length: tasks }, (_, t) => `mask.task${t + 1}.${name}`);
  return method === 'consensus' ? [...names, `mask.consensus.${name}`] : names;
}

/** What the output files note about how they were made. */
export function provenance(request: MergeRequest): Record<string, string> {
  return {
    format: request.base.checkpoint.metadata.format ?? 'pt',
    'weightscope.method': request.method,
    'weightscope.params': JSON.stringify(request.params),
    'weightscope.base': request.base.path,
    'weightscope.models': JSON.stringify(request.models.map((m) => m.path)),
    'weightscope.version': version,
  };
}

/** The core's merge parameters from a method's effective parameters (unused ones neutral). */
export function jobParams(method: MergeMethod, params: Readonly<Record<string, number>>): MergeSpec['params'] {
  return {
    method, lambda: params.lambda ?? 1, density: params.density ?? 1, drop: params.drop ?? 0,
    beta: params.beta ?? 0, gamma: params.gamma ?? 0, k: params.k ?? 0, seed: params.seed ?? 0,
  };
}

export interface MergeCallbacks {
  onTensor?(index: number, stats: MergeTensorStats): void;
  onProgress?(doneBytes: number): void;
}

/**
 * Merges every row on the pool, largest first. Output files are written beside their targets and renamed into
 * place only when every tensor succeeded; on failure or cancellation nothing is left behind.
 */
export async function runMerge(engine: ScanEngine, request: MergeRequest, callbacks: MergeCallbacks = {}, signal?: AbortSignal): Promise<{ end: ScanEnd; stats: Map<number, MergeTensorStats> }> {
  const { rows } = request;
  const tasks = request.models.length;
  const outputs: OutputFile[] = [];
  const stats = new Map<number, MergeTensorStats>();
  try {
    const targets: MergeTargets[] = rows.map(() => ({}));
    if (request.out) {
      const planned: PlannedTensor[] = rows.map(({ base }) => ({ name: base.name, dtype: base.dtype, shape: base.shape, bytes: byteSpan(base.dtype, 0, elementCount(base.shape)).length }));
      const plan = planSafetensors(planned, provenance(request));
      outputs.push(await OutputFile.create(request.out, plan));
      rows.forEach((_, i) => (targets[i]!.merged = { path: outputs[outputs.length - 1]!.tempPath, offset: plan.offsets[i]! }));
    }
    if (request.masks) {
      const planned = rows.flatMap(({ base }) => maskNames(request.method, base.name, tasks).map((name) => ({ name, dtype: 'U8', shape: base.shape, bytes: elementCount(base.shape) })));
      const plan = planSafetensors(planned, { ...provenance(request), 'weightscope.masks': 'U8 keep masks: 1 where a task keeps a weight (mask.task<t> follows --models order)' });
      const file = await OutputFile.create(request.masks, plan);
      outputs.push(file);
      let at = 0;
      rows.forEach(({ base }, i) => {
        const planes = maskNames(request.method, base.name, tasks).length;
        targets[i]!.masks = { path: file.tempPath, offsets: plan.offsets.slice(at, at + planes) };
        at += planes;
      });
    }
    const order = rows.map((row, index) => ({ row, index })).sort((x, y) => y.row.base.bytes - x.row.base.bytes || x.index - y.index);
    // One failure stops the rest, so nothing writes to the files once they are discarded.
    const inner = new AbortController();
    setMaxListeners(0, inner.signal); // one listener per queued tensor
    const relay = (): void => inner.abort();
    signal?.addEventListener('abort', relay);
    let doneBytes = 0;
    const settled = await Promise.allSettled(
      order.map(async ({ row, index }) => {
        const spec: MergeSpec = {
          name: row.base.name, base: row.base, tasks: row.tasks, targets: targets[index]!, chunkBytes: engine.chunkBytes,
          params: jobParams(request.method, request.params),
        };
        try {
          const result = await engine.pool.run('merge', spec, {
            signal: inner.signal,
            onProgress: (bytes) => {
              doneBytes += bytes;
              if (!inner.signal.aborted) callbacks.onProgress?.(doneBytes);
            },
          });
          stats.set(index, result);
          if (!inner.signal.aborted) callbacks.onTensor?.(index, result);
        } catch (error) {
          inner.abort();
          throw error instanceof TaskError ? new TaskError(error.code, `"${row.base.name}": ${error.message}`) : error;
        }
      }),
    );
    signal?.removeEventListener('abort', relay);
    const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof TaskError && r.reason.code === 'CANCELLED'));
    if (failure) throw failure.reason;
    if (signal?.aborted) throw new TaskError('CANCELLED', 'cancelled');
    for (const file of outputs) await file.commit();
    return { end: 'done', stats };
  } catch (error) {
    for (const file of outputs) await file.discard();
    if (error instanceof TaskError && error.code === 'CANCELLED') return { end: 'cancelled', stats };
    throw error;
  }
}
