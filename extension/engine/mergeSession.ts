/**
 * A merge being set up in the merge panel: the chosen base and fine-tunes, a preview of a method (statistics only,
 * streamed per tensor), and exports of the same merge. Knows nothing about VS Code.
 */
import { layerIndex, moduleKind } from '../compare/modules';
import { shortTitles } from '../compare/titles';
import { FormatError } from '../formats/formatError';
import { openCheckpoint } from '../formats/openCheckpoint';
import { mergekitYaml } from '../merge/mergekitYaml';
import { defaultParams, METHOD_PARAMS, ParamError, resolveParams, type MergeMethod, type ParamName } from '../merge/methods';
import type { SourceOpener } from '../source/byteSource';
import type { MergeRecord, MergeSetup, ProblemInfo, ScanProgress, TileQuery, TileReply } from '../protocol/messages';
import { TaskError } from './computePool';
import type { MergeTensorStats } from './diffTypes';
import { jobParams, matchModels, runMerge, type MergeInput, type MergeRow } from './mergeEngine';
import { LruCache } from './lruCache';
import { UpdateBatcher } from './updateBatcher';
import { computeTile, resolveTileRequest } from './tiles';
import { inputFiles, outputConflict, writeTextFile } from './outputFile';
import type { ScanEngine } from './scanEngine';

export interface MergeUpdate {
  records: MergeRecord[];
  progress: ScanProgress;
}


export class MergeSession {
  private base: MergeInput | undefined;
  private models: MergeInput[] = [];
  private method: MergeMethod = 'ties';
  private params: Record<string, number> = defaultsOf('ties');
  private rows: MergeRow[] = [];
  private stats = new Map<number, MergeTensorStats>();
  private progress: ScanProgress = { state: 'idle', doneTensors: 0, totalTensors: 0, doneBytes: 0, totalBytes: 0 };
  private problem: ProblemInfo | null = null;
  private abort: AbortController | undefined;
  private readonly updates = new UpdateBatcher<MergeRecord>((records) => this.listener?.({ records, progress: { ...this.progress } }));
  private listener: ((update: MergeUpdate) => void) | undefined;
  private readonly tiles = new LruCache<string, TileReply>(32 << 20, (t) => 8 * (t.values.length + 2 * (t.rowAbsmax.length + t.colAbsmax.length)));
  /** Bumped by every preview, so cached mask tiles of an older one are never served. */
  private generation = 0;

  constructor(
    private readonly engine: () => ScanEngine,
    private readonly opener: SourceOpener,
  ) {}

  onUpdate(listener: (update: MergeUpdate) => void): void {
    this.listener = listener;
  }

  private async open(path: string): Promise<MergeInput> {
    return { path, checkpoint: await openCheckpoint(path, this.opener) };
  }

  /** Sets the base (a FormatError of the file becomes the setup's problem). */
  async setBase(path: string): Promise<MergeSetup> {
    return this.guard(async () => {
      this.base = await this.open(path);
    });
  }

  async addModels(paths: readonly string[]): Promise<MergeSetup> {
    return this.guard(async () => {
      const opened = await Promise.all(paths.map((p) => this.open(p)));
      this.models = [...this.models, ...opened.filter((m) => !this.models.some((x) => x.path === m.path))].slice(0, 15);
    });
  }

  clear(): MergeSetup {
    this.stop();
    this.base = undefined;
    this.models = [];
    this.rows = [];
    this.stats.clear();
    this.problem = null;
    return this.setup();
  }

  private async guard(action: () => Promise<void>): Promise<MergeSetup> {
    this.stop();
    this.problem = null;
    this.rows = [];
    this.stats.clear();
    try {
      await action();
    } catch (error) {
      this.problem = problemOf(error);
    }
    return this.setup();
  }

  /** A mask heatmap tile of tensor `id` of the last preview: how many tasks keep each weight. */
  async tile(id: number, query: TileQuery, signal: AbortSignal): Promise<TileReply> {
    const row = this.rows[id];
    const stats = this.stats.get(id);
    if (!row || !stats) throw new Error('the preview has not reached this tensor yet');
    const rect = resolveTileRequest(row.base.shape, query);
    const key = `${this.generation}|${id}|${rect.rows}|${rect.cols}|${rect.size}|${rect.reduce}`;
    const cached = this.tiles.get(key);
    if (cached) return cached;
    const engine = this.engine();
    const merge = { name: row.base.name, base: row.base, tasks: row.tasks, params: jobParams(this.method, this.params), cuts: stats.cut_keys };
    const tile = await computeTile(engine.pool, { kind: 'maskCount', merge }, rect, { chunkBytes: engine.chunkBytes, signal, priority: 1 });
    this.tiles.set(key, tile);
    return tile;
  }

  /** Starts a preview: statistics of every tensor under the method, streamed; the setup comes back at once. */
  preview(method: MergeMethod, given: Partial<Record<ParamName, number>>): MergeSetup {
    this.stop();
    this.generation++;
    this.method = method;
    this.problem = null;
    this.stats.clear();
    this.rows = [];
    try {
      if (!this.base || this.models.length === 0) throw new ParamError('choose a base and at least one fine-tune');
      this.params = resolveParams(method, given, this.models.length);
      this.rows = matchModels(this.base, this.models);
    } catch (error) {
      this.problem = problemOf(error);
      return this.setup();
    }
    const abort = new AbortController();
    this.abort = abort;
    const totalBytes = this.rows.reduce((s, r) => s + r.base.bytes + r.tasks.reduce((t, x) => t + x.bytes, 0), 0);
    this.progress = { state: 'running', doneTensors: 0, totalTensors: this.rows.length, doneBytes: 0, totalBytes };
    const setup = this.setup();
    runMerge(this.engine(), { method, params: this.params, base: this.base, models: this.models, rows: this.rows }, {
      onTensor: (id, stats) => {
        this.stats.set(id, stats);
        this.progress.doneTensors++;
        this.updates.add({ id, stats });
      },
      onProgress: (doneBytes) => {
        this.progress.doneBytes = doneBytes;
        this.updates.add();
      },
    }, abort.signal).then(
      ({ end }) => {
        if (this.abort !== abort) return;
        this.progress.state = end;
        this.updates.flush();
      },
      (error) => {
        if (this.abort !== abort) return;
        this.progress.state = 'failed';
        this.problem = problemOf(error);
        this.updates.flush();
      },
    );
    return setup;
  }

  /** Writes the previewed merge: the merged model, its masks, or a mergekit configuration, to `target`. */
  async export(what: 'model' | 'masks' | 'mergekit', target: string): Promise<void> {
    if (!this.base || this.rows.length === 0) throw new ParamError('preview a merge first');
    const inputs = [this.base, ...this.models].flatMap(inputFiles);
    const conflict = outputConflict([{ flag: 'the export', path: target }], inputs);
    if (conflict) throw new ParamError(conflict);
    if (what === 'mergekit') {
      const dtype = this.rows[0]?.base.dtype ?? 'F32';
      await writeTextFile(target, mergekitYaml({ method: this.method, params: this.params, base: this.base.path, models: this.models.map((m) => m.path), dtype }));
      return;
    }
    const request = { method: this.method, params: this.params, base: this.base, models: this.models, rows: this.rows };
    await runMerge(this.engine(), what === 'model' ? { ...request, out: target } : { ...request, masks: target });
  }

  setup(): MergeSetup {
    const inputs = [...(this.base ? [this.base] : []), ...this.models];
    const titles = new Map(inputs.map((m, i) => [m, shortTitles(inputs.map((x) => x.path))[i]!]));
    const info = (m: MergeInput) => ({ path: m.path, title: titles.get(m)! });
    return {
      base: this.base ? info(this.base) : null,
      models: this.models.map(info),
      method: this.method,
      params: { ...this.params },
      rows: this.rows.map(({ base }, id) => ({ id, name: base.name, shape: [...base.shape], dtype: base.dtype, layer: layerIndex(base.name), kind: moduleKind(base.name) })),
      records: [...this.stats].map(([id, stats]) => ({ id, stats })),
      progress: { ...this.progress },
      problem: this.problem,
    };
  }

  stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    this.updates.clear();
  }
}

function defaultsOf(method: MergeMethod): Record<string, number> {
  const all = defaultParams(method);
  return Object.fromEntries(METHOD_PARAMS[method].map((p) => [p, all[p]]));
}

function problemOf(error: unknown): ProblemInfo {
  if (error instanceof FormatError) return { code: error.code, message: `${error.file}${error.tensor ? ` ("${error.tensor}")` : ''}: ${error.message}` };
  if (error instanceof TaskError) return { code: error.code, message: error.message };
  if (error instanceof ParamError) return { code: 'INVALID_ARGUMENT', message: error.message };
  return { code: 'REQUEST_FAILED', message: (error as Error).message ?? String(error) };
}
