/**
 * One comparison shown in a diff panel: both checkpoints' headers, the aligned pairs, statistics streaming in, and
 * delta histograms and low-rank analyses on request. Knows nothing about VS Code.
 */
import { setMaxListeners } from 'node:events';
import { align, type Alignment } from '../compare/align';
import { findLoraPairs } from '../compare/lora';
import { layerIndex, moduleKind } from '../compare/modules';
import { shortTitles } from '../compare/titles';
import type { Checkpoint } from '../formats/checkpoint';
import { elementCount } from '../formats/checkpoint';
import { openCheckpoint } from '../formats/openCheckpoint';
import type { SourceOpener } from '../source/byteSource';
import type { DiffRow, DiffSide, OpenResponse, PairRecord, ScanProgress, TileQuery, TileReply } from '../protocol/messages';
import { LruCache } from './lruCache';
import { computeTile, resolveTileRequest } from './tiles';
import { comparePairs, findAdapterConfig, hasMatrixDelta, loraItems, lowRank, pairBytes, tensorItems, type DiffItem, type PairOutcome } from './diffEngine';
import type { DeltaHistogram, LowRankSummary } from './diffTypes';
import type { ScanEngine } from './scanEngine';

export interface DiffUpdate {
  records: PairRecord[];
  progress: ScanProgress;
}

interface Side {
  path: string;
  checkpoint: Checkpoint;
  loraPairs: number;
  adapterConfig: Awaited<ReturnType<typeof findAdapterConfig>>;
}

/** Delta tiles kept for quick zooming back (their Float64Array payloads). */
const TILE_CACHE_BYTES = 64 << 20;
const tileBytes = (t: TileReply): number => 8 * (t.values.length + t.rowAbsmax.length + t.rowRms.length + t.colAbsmax.length + t.colRms.length);

/** How often streamed records are forwarded: often enough to feel live, rarely enough to stay cheap. */
const FLUSH_MS = 250;

export class DiffSession {
  mode: 'tensors' | 'lora';
  private alignment: Alignment<DiffItem> = { pairs: [], mismatched: [], onlyA: [], onlyB: [] };
  private outcomes = new Map<number, PairOutcome>();
  private pending: PairRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private abort: AbortController | undefined;
  private progress: ScanProgress = { state: 'idle', doneTensors: 0, totalTensors: 0, doneBytes: 0, totalBytes: 0 };
  private readonly lowRanks = new Map<string, Promise<LowRankSummary>>();
  private readonly tiles = new LruCache<string, TileReply>(TILE_CACHE_BYTES, tileBytes);
  private listener: ((update: DiffUpdate) => void) | undefined;

  private constructor(
    private readonly a: Side,
    private readonly b: Side,
    private readonly engine: () => ScanEngine,
  ) {
    this.mode = a.loraPairs > 0 && b.loraPairs > 0 ? 'lora' : 'tensors';
  }

  /** Opens both checkpoints (headers only); throws FormatError naming the file at fault. */
  static async open(aPath: string, bPath: string, engine: () => ScanEngine, opener: SourceOpener): Promise<DiffSession> {
    const side = async (path: string): Promise<Side> => {
      const checkpoint = await openCheckpoint(path, opener);
      const loraPairs = findLoraPairs(checkpoint.tensors).pairs.length;
      // An adapter_config.json matters (and is read) only beside an adapter.
      return { path, checkpoint, loraPairs, adapterConfig: loraPairs > 0 ? await findAdapterConfig(path, opener) : undefined };
    };
    const [a, b] = await Promise.all([side(aPath), side(bPath)]);
    return new DiffSession(a, b, engine);
  }

  onUpdate(listener: (update: DiffUpdate) => void): void {
    this.listener = listener;
  }

  /** Aligns the two sides in the current mode and starts comparing; returns the first view. */
  async start(mode = this.mode): Promise<OpenResponse> {
    this.stop();
    this.mode = mode;
    const items = async (side: Side): Promise<DiffItem[]> =>
      mode === 'lora' ? loraItems(side.checkpoint, this.engine(), side.adapterConfig) : tensorItems(side.checkpoint);
    this.alignment = align(await items(this.a), await items(this.b));
    this.outcomes = new Map();
    this.lowRanks.clear();
    const pairs = this.alignment.pairs;
    this.progress = { state: 'running', doneTensors: 0, totalTensors: pairs.length, doneBytes: 0, totalBytes: pairs.reduce((s, p) => s + pairBytes(p), 0) };
    const abort = new AbortController();
    setMaxListeners(0, abort.signal); // one listener per queued pair
    this.abort = abort;
    const response = this.openResponse();
    void comparePairs(this.engine(), pairs, {
      onPair: (index, outcome) => {
        this.outcomes.set(index, outcome);
        this.pending.push(record(index, outcome));
        this.progress.doneTensors++;
        this.schedule();
      },
      onProgress: (doneBytes) => {
        this.progress.doneBytes = doneBytes;
        this.schedule();
      },
    }, abort.signal).then(
      (end) => {
        if (this.abort !== abort) return;
        this.progress.state = end;
        if (end === 'done') this.progress.doneBytes = this.progress.totalBytes;
        this.flush();
      },
      () => {
        if (this.abort !== abort) return;
        this.progress.state = 'failed';
        this.flush();
      },
    );
    return response;
  }

  openResponse(): OpenResponse {
    const titles = shortTitles([this.a.path, this.b.path]);
    const side = (s: Side): DiffSide => ({
      path: s.path, title: titles[s === this.a ? 0 : 1]!, format: s.checkpoint.format, tensorCount: s.checkpoint.tensors.length, loraPairs: s.loraPairs,
      adapterConfig: s.adapterConfig?.path ?? null,
    });
    const rows: DiffRow[] = this.alignment.pairs.map((p, id) => ({
      id, name: p.a.name, nameB: p.b.name, shape: [...p.a.shape], dtypeA: p.a.dtype, dtypeB: p.b.dtype, params: elementCount(p.a.shape),
      layer: layerIndex(p.a.name), kind: moduleKind(p.a.name), matrix: hasMatrixDelta(p.a.shape),
      lora: p.a.lora && p.b.lora ? { scaleA: p.a.lora.scale.scale, sourceA: p.a.lora.scale.source, scaleB: p.b.lora.scale.scale, sourceB: p.b.lora.scale.source } : null,
    }));
    return {
      kind: 'diff',
      summary: {
        a: side(this.a), b: side(this.b), mode: this.mode,
        onlyA: this.alignment.onlyA.map((t) => t.name), onlyB: this.alignment.onlyB.map((t) => t.name),
        mismatched: this.alignment.mismatched.map(({ a, b }) => ({ name: a.name, shapeA: [...a.shape], shapeB: [...b.shape], dtypeA: a.dtype, dtypeB: b.dtype })),
      },
      rows,
      records: [...this.outcomes].map(([id, outcome]) => record(id, outcome)),
      progress: { ...this.progress },
    };
  }

  /** A heatmap tile of pair `id`'s delta B − A (cached by rectangle). */
  async tile(id: number, query: TileQuery, signal: AbortSignal): Promise<TileReply> {
    const pair = this.alignment.pairs[id];
    if (!pair?.a.operand || !pair.b.operand) throw new Error(`pair ${id} cannot be read`);
    const rect = resolveTileRequest(pair.a.shape, query);
    const key = `${this.mode}|${id}|${rect.rows}|${rect.cols}|${rect.size}|${rect.reduce}`;
    const cached = this.tiles.get(key);
    if (cached) return cached;
    const engine = this.engine();
    const tile = await computeTile(engine.pool, { kind: 'delta', a: pair.a.operand, b: pair.b.operand, shape: pair.a.shape }, rect, { chunkBytes: engine.chunkBytes, signal, priority: 1 });
    this.tiles.set(key, tile);
    return tile;
  }

  histogram(id: number): DeltaHistogram | null {
    return this.outcomes.get(id)?.analysis?.histogram ?? null;
  }

  /** The k leading singular values of pair `id`'s delta, computed once per k. */
  lowRank(id: number, k: number): Promise<LowRankSummary> {
    const pair = this.alignment.pairs[id];
    if (!pair) return Promise.reject(new Error(`no pair ${id}`));
    const key = `${id}:${k}`;
    let result = this.lowRanks.get(key);
    if (!result) {
      result = lowRank(this.engine(), pair.a, pair.b, { k, ...(this.abort ? { signal: this.abort.signal } : {}) });
      result.catch(() => this.lowRanks.delete(key));
      this.lowRanks.set(key, result);
    }
    return result;
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const records = this.pending;
    this.pending = [];
    this.listener?.({ records, progress: { ...this.progress } });
  }

  stop(): void {
    this.abort?.abort();
    this.abort = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
  }
}

function record(id: number, outcome: PairOutcome): PairRecord {
  return outcome.analysis
    ? { id, stats: outcome.analysis.stats, error: null }
    : { id, stats: null, error: { code: outcome.problem.code, message: outcome.problem.message } };
}
