/**
 * The heatmap, outlier and quantization analyses of one opened checkpoint: tiles (cached, cancellable), per-tensor
 * results for the detail tabs, and the model-wide runs with progress. Results are cached per document within a
 * budget; everything runs on the shared engine's pool. No `vscode` here: the provider turns requests into calls.
 */
import { elementCount, type TensorEntry } from '../formats/checkpoint';
import { TaskError } from '../engine/computePool';
import { LruCache } from '../engine/lruCache';
import { crossLayerChannels, hasOutlierAnalysis, runOutliers, superWeightCandidates, type OutlierOutcome } from '../engine/outliers';
import {
  damageRanking, defaultKeepThreshold, hasQuantPreview, KEEP_FRACTIONS, keepList, QUANT_SCHEMES, runQuantPreview, schemeApplies, type QuantOutcome, type QuantScheme,
  type SchemeResult,
} from '../engine/quantPreview';
import type { ScanEngine } from '../engine/scanEngine';
import type { ActivationInput } from '../engine/tasks/activations';
import { ArgumentError, computeTile, resolveTileRequest } from '../engine/tiles';
import type { ChannelSummary } from '../engine/wasmCore';
import type {
  AnalysisKind, AnalysisProgress, HostEvent, OutlierRecord, OutlierSummary, OutlierView, QuantMetricsInfo, QuantRecord, QuantView, TileQuery,
  TileReply,
} from '../protocol/messages';

/** Rankings kept per tensor for the editor (the cross-layer view looks a little deeper than the CLI default). */
const EDITOR_TOP = 16;
/** Host tile cache budget, in bytes of cell values. */
const TILE_CACHE_BYTES = 64 << 20;
/** Per-tensor results for the detail tabs outrank the model-wide runs; tiles outrank both. */
const TILE_PRIORITY = 20;
const DETAIL_PRIORITY = 10;
const PROGRESS_INTERVAL_MS = 250;

const orNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

function toOutlierSummary(s: ChannelSummary): OutlierSummary {
  const channel = (c: ChannelSummary['topRows'][number]) => ({ index: c.index, absmax: c.absmax, rms: orNull(c.rms), kurtosis: orNull(c.kurtosis) });
  return {
    rowRatio: orNull(s.rowRatio), colRatio: orNull(s.colRatio), rowMedian: orNull(s.rowMedian), colMedian: orNull(s.colMedian),
    meanAbs: orNull(s.meanAbs), stdAbs: orNull(s.stdAbs), topRows: s.topRows.map(channel), topCols: s.topCols.map(channel),
    topScalars: s.topScalars.map((x) => ({ row: x.row, col: x.col, value: x.value, z: orNull(x.z) })),
  };
}

function toMetrics(m: SchemeResult['metrics']): QuantMetricsInfo {
  const weighted = m.weighted ? { sqnrDb: m.weighted.sqnr_db, damage: m.weighted.damage } : null;
  return { mse: m.mse, sqnrDb: m.sqnr_db, maxAbsErr: m.max_abs_err, damage: m.damage, weighted };
}

/** What is known of one tensor's quantization so far: results by scheme, or the problem that stopped it. */
interface KnownQuant {
  results: Map<QuantScheme, SchemeResult>;
  problem?: { code: string; message: string };
}

/** A model-wide run: its progress, its cancellation, and a throttled progress event. */
class Run {
  readonly abort = new AbortController();
  progress: AnalysisProgress;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly kind: AnalysisKind,
    total: { tensors: number; bytes: number },
    private readonly notify: (event: HostEvent) => void,
  ) {
    this.progress = { state: 'running', doneTensors: 0, totalTensors: total.tensors, doneBytes: 0, totalBytes: total.bytes };
  }

  update(change: Partial<AnalysisProgress>, now = false): void {
    Object.assign(this.progress, change);
    if (now) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), PROGRESS_INTERVAL_MS);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.notify({ type: 'analysisProgress', kind: this.kind, progress: { ...this.progress } });
  }
}

export class DocumentAnalyses {
  private readonly tiles = new LruCache<string, TileReply>(TILE_CACHE_BYTES, (t) => t.values.byteLength + 8 * (t.rowAbsmax.length + t.colAbsmax.length) * 2);
  private readonly outlierOutcomes = new Map<number, OutlierOutcome>();
  private readonly quantOutcomes = new Map<number, KnownQuant>();
  private readonly runs = new Map<AnalysisKind, Run>();
  private quantSchemes: QuantScheme[] = [];
  /** Column weights of a tensor for weighted quantization errors (saliency's imported statistics), if any. */
  private quantWeights: ((index: number) => ActivationInput | undefined) | undefined;
  /** Bumped when the weights change, so that results computed with the old ones are not stored. */
  private quantGeneration = 0;

  constructor(
    private readonly entries: readonly TensorEntry[],
    private readonly engine: () => ScanEngine,
    private readonly notify: (event: HostEvent) => void,
  ) {}

  private entry(id: number): TensorEntry {
    const entry = this.entries[id];
    if (!entry) throw new Error(`no tensor with id ${id}`);
    return entry;
  }

  /** A tile of tensor `id`, from the cache or computed (split across workers when large). */
  async tile(id: number, query: TileQuery, signal: AbortSignal): Promise<TileReply> {
    const entry = this.entry(id);
    if (entry.problem) throw new Error(`${entry.problem.code}: ${entry.problem.message}`);
    let rect;
    try {
      rect = resolveTileRequest(entry.shape, query);
    } catch (error) {
      throw error instanceof ArgumentError ? new Error(`INVALID_ARGUMENT: ${error.message}`) : error;
    }
    const key = `${id}|${rect.rows}|${rect.cols}|${rect.size}|${rect.reduce}`;
    const cached = this.tiles.get(key);
    if (cached) return cached;
    const engine = this.engine();
    const tile = await computeTile(engine.pool, { kind: 'tensor', location: entry }, rect, { chunkBytes: engine.chunkBytes, signal, priority: TILE_PRIORITY });
    this.tiles.set(key, tile);
    return tile;
  }

  /** The outlier analysis of one tensor, computed ahead of any model-wide run when not known yet. */
  async outliers(id: number): Promise<OutlierRecord> {
    this.entry(id);
    if (!this.outlierOutcomes.has(id)) {
      const engine = this.engine();
      await runOutliers(engine.pool, this.entries, [id], {
        top: EDITOR_TOP, chunkBytes: engine.chunkBytes, priority: DETAIL_PRIORITY, onOutcome: (o) => this.outlierOutcomes.set(o.index, o),
      });
    }
    return this.outlierRecord(id);
  }

  private outlierRecord(id: number): OutlierRecord {
    const outcome = this.outlierOutcomes.get(id);
    return {
      id,
      summary: outcome?.summary ? toOutlierSummary(outcome.summary) : null,
      error: outcome?.problem ? { code: outcome.problem.code, message: outcome.problem.message } : outcome ? null : { code: 'CANCELLED', message: 'not analysed' },
    };
  }

  /** Quantization errors of one tensor under every scheme that applies, with the top 0.1 %/1 % kept. */
  async quant(id: number): Promise<QuantRecord> {
    const entry = this.entry(id);
    const known = this.quantOutcomes.get(id);
    const missing = QUANT_SCHEMES.filter((s) => schemeApplies(entry, s) && !known?.results.has(s));
    if (!known?.problem && missing.length > 0) {
      const engine = this.engine();
      const generation = this.quantGeneration;
      await runQuantPreview(engine.pool, this.entries, [id], {
        schemes: missing, keep: [...KEEP_FRACTIONS], chunkBytes: engine.chunkBytes, priority: DETAIL_PRIORITY, weightsOf: this.quantWeights,
        onOutcome: (o) => generation === this.quantGeneration && this.storeQuant(o),
      });
      if (generation !== this.quantGeneration) return this.quant(id);
    }
    return this.quantRecord(id, QUANT_SCHEMES);
  }

  /**
   * Weighs quantization errors per input channel by `weightsOf(index)` from now on (undefined: plain errors only).
   * Results so far are forgotten; a model-wide run that ran or runs starts again with the weights.
   */
  weighQuantErrors(weightsOf: ((index: number) => ActivationInput | undefined) | undefined): void {
    this.quantWeights = weightsOf;
    this.quantGeneration++;
    this.quantOutcomes.clear();
    const run = this.runs.get('quant');
    if (!run) return;
    run.abort.abort();
    void this.runQuantScan(this.quantSchemes, false);
  }

  private storeQuant(outcome: QuantOutcome): void {
    const known: KnownQuant = this.quantOutcomes.get(outcome.index) ?? { results: new Map() };
    if (outcome.problem) known.problem = outcome.problem;
    for (const r of outcome.results ?? []) known.results.set(r.scheme, r);
    this.quantOutcomes.set(outcome.index, known);
  }

  private quantRecord(id: number, schemes: readonly QuantScheme[]): QuantRecord {
    const known = this.quantOutcomes.get(id);
    if (known?.problem) return { id, results: null, error: { ...known.problem } };
    const results = schemes.flatMap((s) => {
      const r = known?.results.get(s);
      return r ? [{ scheme: r.scheme, metrics: toMetrics(r.metrics), kept: r.kept.map((k) => ({ fraction: k.fraction, metrics: toMetrics(k.metrics) })) }] : [];
    });
    return { id, results, error: null };
  }

  /** Starts a model-wide run unless one for the same work is running or done (or `restart`). */
  runAnalysis(kind: AnalysisKind, schemes: readonly string[] = [], restart = false): void {
    const chosen = QUANT_SCHEMES.filter((s) => schemes.includes(s));
    const current = this.runs.get(kind);
    const sameWork = kind === 'outliers' || chosen.join() === this.quantSchemes.join();
    if (current && sameWork && !restart && current.progress.state !== 'cancelled' && current.progress.state !== 'failed') return;
    current?.abort.abort();
    if (kind === 'outliers') void this.runOutlierScan(restart);
    else {
      this.quantSchemes = chosen;
      void this.runQuantScan(chosen, restart);
    }
  }

  cancelAnalysis(kind: AnalysisKind): void {
    const run = this.runs.get(kind);
    if (run && run.progress.state === 'running') {
      run.abort.abort();
      run.update({ state: 'cancelled' }, true);
    }
  }

  private startRun(kind: AnalysisKind, indices: readonly number[]): Run {
    const run = new Run(kind, { tensors: indices.length, bytes: indices.reduce((sum, i) => sum + this.entries[i]!.bytes, 0) }, this.notify);
    this.runs.set(kind, run);
    run.flush();
    return run;
  }

  private finishRun(run: Run, work: Promise<unknown>): Promise<void> {
    return work.then(
      () => {
        if (!run.abort.signal.aborted) run.update({ state: 'done', doneBytes: run.progress.totalBytes }, true);
      },
      (error) => {
        if (!run.abort.signal.aborted) run.update({ state: error instanceof TaskError && error.code === 'CANCELLED' ? 'cancelled' : 'failed' }, true);
      },
    );
  }

  private async runOutlierScan(restart: boolean): Promise<void> {
    if (restart) this.outlierOutcomes.clear();
    const indices = this.entries.flatMap((e, i) => (hasOutlierAnalysis(e) && elementCount(e.shape) > 0 ? [i] : []));
    const run = this.startRun('outliers', indices);
    const todo = indices.filter((i) => !this.outlierOutcomes.has(i));
    run.update({ doneTensors: indices.length - todo.length });
    const engine = this.engine();
    await this.finishRun(run, runOutliers(engine.pool, this.entries, todo, {
      top: EDITOR_TOP, chunkBytes: engine.chunkBytes, signal: run.abort.signal,
      onOutcome: (o) => {
        this.outlierOutcomes.set(o.index, o);
        run.update({ doneTensors: run.progress.doneTensors + 1 });
      },
      onProgress: (doneBytes) => run.update({ doneBytes }),
    }));
  }

  private async runQuantScan(schemes: readonly QuantScheme[], restart: boolean): Promise<void> {
    if (restart) this.quantOutcomes.clear();
    const indices = this.entries.flatMap((e, i) => (hasQuantPreview(e) && elementCount(e.shape) > 0 ? [i] : []));
    const run = this.startRun('quant', indices);
    const todo = indices.filter((i) => {
      const known = this.quantOutcomes.get(i);
      return !known?.problem && schemes.some((s) => schemeApplies(this.entries[i]!, s) && !known?.results.has(s));
    });
    run.update({ doneTensors: indices.length - todo.length });
    const engine = this.engine();
    await this.finishRun(run, runQuantPreview(engine.pool, this.entries, todo, {
      schemes, keep: [...KEEP_FRACTIONS], chunkBytes: engine.chunkBytes, signal: run.abort.signal, weightsOf: this.quantWeights,
      onOutcome: (o) => {
        this.storeQuant(o);
        run.update({ doneTensors: run.progress.doneTensors + 1 });
      },
      onProgress: (doneBytes) => run.update({ doneBytes }),
    }));
  }

  private progressOf(kind: AnalysisKind): AnalysisProgress {
    return { ...(this.runs.get(kind)?.progress ?? { state: 'idle', doneTensors: 0, totalTensors: 0, doneBytes: 0, totalBytes: 0 }) };
  }

  outlierView(): OutlierView {
    const records = [...this.outlierOutcomes.keys()].sort((a, b) => a - b).map((id) => this.outlierRecord(id));
    const cross = crossLayerChannels(this.entries, this.outlierOutcomes);
    return {
      progress: this.progressOf('outliers'),
      records,
      superWeights: superWeightCandidates(this.entries, this.outlierOutcomes).map((c) => ({ id: c.index, row: c.row, col: c.col, value: c.value, z: c.z })),
      crossLayer: {
        width: cross.width,
        channels: cross.channels.slice(0, 64).map((c) => ({ index: c.index, echoes: c.echoes.map((e) => ({ id: e.tensor, axis: e.axis, ratio: e.ratio })) })),
      },
    };
  }

  quantView(): QuantView {
    const records = [...this.quantOutcomes.keys()].sort((a, b) => a - b).map((id) => this.quantRecord(id, this.quantSchemes));
    return { progress: this.progressOf('quant'), schemes: [...this.quantSchemes], records };
  }

  private ranking(scheme: QuantScheme) {
    const outcomes = new Map<number, QuantOutcome>();
    for (const [index, known] of this.quantOutcomes) outcomes.set(index, { index, results: [...known.results.values()] });
    return damageRanking(this.entries, outcomes, scheme);
  }

  /** Matrices whose SQNR under `scheme` is below `thresholdDb`, among the tensors analysed so far. */
  keepList(scheme: QuantScheme, thresholdDb: number): TensorEntry[] {
    return keepList(this.entries, this.ranking(scheme), thresholdDb);
  }

  /** The default keep threshold of `scheme` over the tensors analysed so far (null before any). */
  keepThreshold(scheme: QuantScheme): number | null {
    return defaultKeepThreshold(this.entries, this.ranking(scheme));
  }

  dispose(): void {
    for (const run of this.runs.values()) run.abort.abort();
    this.tiles.clear();
  }
}
