import * as vscode from 'vscode';
import { basename } from 'node:path';
import type { Checkpoint, TensorEntry } from '../formats/checkpoint';
import { findLoraPairs } from '../compare/lora';
import { elementCount } from '../formats/checkpoint';
import { FormatError } from '../formats/formatError';
import { openCheckpoint } from '../formats/openCheckpoint';
import { nodeSourceOpener } from '../source/nodeFileSource';
import { analyseBlocks, isBlockQuantized, type BlockOutcome } from '../engine/blockDiagnostics';
import type { ScanEngine, TensorOutcome } from '../engine/scanEngine';
import { buildStatsReport, filesOf, type StatsReport } from '../engine/statsReport';
import type { CheckpointSummary, HostEvent, LoraDeltaInfo, OpenResponse, ScanProgress, StatsRecord, TensorRow } from '../protocol/messages';
import { analyzeLoraDelta, pairOf } from '../engine/loraDelta';
import { UpdateBatcher } from '../engine/updateBatcher';
import { DocumentAnalyses } from './documentAnalyses';
import { DocumentSaliency } from './documentSaliency';

/** How often streamed records are forwarded to the webview: often enough to feel live, rarely enough to stay cheap. */
/** Cells down and across of the block-scale grid the Blocks tab draws. */
const BLOCK_GRID = 256;

export interface ScanUpdate {
  records: StatsRecord[];
  progress: ScanProgress;
}

/**
 * One opened checkpoint: its header-derived catalogue (or the error that stopped it), the statistics streamed in
 * so far, and the scan in flight. Several editor panels may show the same document.
 */
export class CheckpointDocument implements vscode.CustomDocument {
  private readonly updates = new vscode.EventEmitter<ScanUpdate>();
  readonly onDidUpdate = this.updates.event;
  private readonly analysisEvents = new vscode.EventEmitter<HostEvent>();
  /** Progress of the model-wide outlier and quantization runs. */
  readonly onAnalysisEvent = this.analysisEvents.event;
  /** Heatmap tiles, outliers and quantization previews of this checkpoint (empty when it could not be opened). */
  readonly analyses: DocumentAnalyses;
  private readonly saliencyEvents = new vscode.EventEmitter<HostEvent>();
  /** Activation statistics imported for this checkpoint, and saliency results. */
  readonly onSaliencyEvent = this.saliencyEvents.event;
  readonly saliency: DocumentSaliency;
  private readonly outcomes = new Map<number, TensorOutcome>();
  private readonly loraDeltas = new Map<string, Promise<LoraDeltaInfo>>();
  private readonly blockOutcomes = new Map<number, Promise<BlockOutcome>>();
  private readonly batcher = new UpdateBatcher<StatsRecord>((records) => this.updates.fire({ records, progress: { ...this.progress } }));
  private scanAbort: AbortController | undefined;
  private progress: ScanProgress;

  private constructor(
    readonly uri: vscode.Uri,
    private readonly opened: { checkpoint: Checkpoint } | { error: FormatError },
    private readonly engine: () => ScanEngine,
  ) {
    const tensors = 'checkpoint' in opened ? opened.checkpoint.tensors : [];
    this.analyses = new DocumentAnalyses(tensors, engine, (event) => this.analysisEvents.fire(event));
    // Imported statistics also weigh the quantization preview's errors.
    const onSaliency = (event: HostEvent): void => {
      this.saliencyEvents.fire(event);
      if (event.type === 'activations') this.analyses.weighQuantErrors(this.saliency.quantWeights());
    };
    this.saliency = new DocumentSaliency('checkpoint' in opened ? opened.checkpoint : undefined, engine, onSaliency, (id) => this.analyses.outliers(id));
    this.progress = {
      state: 'idle',
      doneTensors: 0,
      totalTensors: tensors.length,
      doneBytes: 0,
      totalBytes: tensors.reduce((sum, t) => sum + t.bytes, 0),
    };
  }

  static async open(uri: vscode.Uri, engine: () => ScanEngine): Promise<CheckpointDocument> {
    if (uri.scheme !== 'file') {
      const error = new FormatError('UNSUPPORTED_FORMAT', `only files on disk can be opened (scheme "${uri.scheme}")`, uri.toString());
      return new CheckpointDocument(uri, { error }, engine);
    }
    try {
      return new CheckpointDocument(uri, { checkpoint: await openCheckpoint(uri.fsPath, nodeSourceOpener) }, engine);
    } catch (error) {
      const formatError =
        error instanceof FormatError ? error : new FormatError('READ_ERROR', (error as Error).message, uri.fsPath);
      return new CheckpointDocument(uri, { error: formatError }, engine);
    }
  }

  get checkpoint(): Checkpoint | undefined {
    return 'checkpoint' in this.opened ? this.opened.checkpoint : undefined;
  }

  openResponse(): OpenResponse {
    if ('error' in this.opened) {
      const { error } = this.opened;
      return { kind: 'error', file: error.file, problem: { code: error.code, message: error.message } };
    }
    const { checkpoint } = this.opened;
    return {
      kind: 'checkpoint',
      summary: summarize(checkpoint, basename(this.uri.fsPath)),
      tensors: this.rows(checkpoint),
      records: [...this.outcomes.entries()].map(([id, outcome]) => toRecord(id, outcome)),
      progress: { ...this.progress },
    };
  }

  /** The catalogue rows, LoRA factors marked with the weight their pair adapts. */
  private rows(checkpoint: Checkpoint): TensorRow[] {
    const pairs = new Map<TensorEntry, string>();
    for (const pair of findLoraPairs(checkpoint.tensors).pairs) for (const t of [pair.a, pair.b, pair.alpha]) if (t) pairs.set(t, pair.name);
    return checkpoint.tensors.map((entry, id) => {
      const row = toRow(entry, id);
      const pair = pairs.get(entry);
      return pair === undefined ? row : { ...row, loraPair: pair };
    });
  }

  /** The ΔW of the LoRA pair tensor `id` belongs to, computed once (null when it is not a LoRA factor). */
  loraDelta(id: number): Promise<LoraDeltaInfo | null> {
    const checkpoint = this.checkpoint;
    const entry = checkpoint?.tensors[id];
    const pair = checkpoint && entry && pairOf(checkpoint, entry);
    if (!checkpoint || !pair) return Promise.resolve(null);
    let analysis = this.loraDeltas.get(pair.name);
    if (!analysis) {
      analysis = analyzeLoraDelta(this.engine(), checkpoint, this.uri.fsPath, nodeSourceOpener, pair);
      analysis.catch(() => this.loraDeltas.delete(pair.name));
      this.loraDeltas.set(pair.name, analysis);
    }
    return analysis;
  }

  histogram(id: number) {
    return this.outcomes.get(id)?.analysis?.histogram ?? null;
  }

  /** Block diagnostics of tensor `id`, computed on first request. */
  blocks(id: number): Promise<BlockOutcome> {
    const tensor = this.checkpoint?.tensors[id];
    if (!tensor) return Promise.resolve({ analysis: null, error: { code: 'INVALID_ARGUMENT', message: `no tensor ${id}` } });
    let outcome = this.blockOutcomes.get(id);
    if (!outcome) {
      outcome = analyseBlocks(this.engine(), tensor, BLOCK_GRID);
      this.blockOutcomes.set(id, outcome);
    }
    return outcome;
  }

  report(): StatsReport | undefined {
    const checkpoint = this.checkpoint;
    return checkpoint && buildStatsReport(checkpoint, this.outcomes);
  }

  /** Starts the scan unless one has run or is running. */
  ensureScanned(): void {
    if (this.progress.state === 'idle') void this.scan();
  }

  rescan(): void {
    this.cancel();
    this.outcomes.clear();
    void this.scan();
  }

  cancel(): void {
    this.scanAbort?.abort();
  }

  private async scan(): Promise<void> {
    const checkpoint = this.checkpoint;
    if (!checkpoint) return;
    const abort = new AbortController();
    this.scanAbort = abort;
    this.progress = { ...this.progress, state: 'running', doneTensors: 0, doneBytes: 0 };
    this.batcher.clear();
    this.batcher.flush();
    try {
      const end = await this.engine().scan(
        checkpoint.tensors,
        {
          onTensor: (outcome) => {
            if (abort.signal.aborted) return;
            this.outcomes.set(outcome.index, outcome);
            this.progress.doneTensors++;
            this.batcher.add(toRecord(outcome.index, outcome));
          },
          onProgress: (doneBytes) => {
            if (abort.signal.aborted) return;
            this.progress.doneBytes = doneBytes;
            this.batcher.add();
          },
        },
        abort.signal,
      );
      if (this.scanAbort !== abort) return;
      this.progress.state = end;
      if (end === 'done') this.progress.doneBytes = this.progress.totalBytes;
    } catch {
      if (this.scanAbort !== abort) return;
      this.progress.state = 'failed';
    }
    this.batcher.flush();
  }


  dispose(): void {
    this.cancel();
    this.analyses.dispose();
    this.saliency.dispose();
    this.batcher.clear();
    this.updates.dispose();
    this.analysisEvents.dispose();
    this.saliencyEvents.dispose();
  }
}

function summarize(checkpoint: Checkpoint, title: string): CheckpointSummary {
  const paramsByDtype: Record<string, number> = {};
  let totalParams = 0;
  for (const t of checkpoint.tensors) {
    const n = elementCount(t.shape);
    paramsByDtype[t.dtype] = (paramsByDtype[t.dtype] ?? 0) + n;
    totalParams += n;
  }
  return {
    format: checkpoint.format,
    title,
    files: filesOf(checkpoint),
    metadata: { ...checkpoint.metadata },
    tensorCount: checkpoint.tensors.length,
    totalBytes: checkpoint.tensors.reduce((sum, t) => sum + t.bytes, 0),
    totalParams,
    paramsByDtype,
    findings: (checkpoint.findings ?? []).map((f) => ({ code: f.code, message: f.message, file: f.file })),
  };
}

function toRow(entry: Checkpoint['tensors'][number], id: number): TensorRow {
  return {
    id,
    name: entry.name,
    dtype: entry.dtype,
    shape: [...entry.shape],
    params: elementCount(entry.shape),
    bytes: entry.bytes,
    file: entry.file,
    offset: entry.offset,
    quantized: isBlockQuantized(entry.dtype),
    problem: entry.problem ? { code: entry.problem.code, message: entry.problem.message } : null,
    ...(entry.strides ? { strides: [...entry.strides] } : {}),
    ...(entry.deflate ? { deflated: true } : {}),
  };
}

function toRecord(id: number, outcome: TensorOutcome): StatsRecord {
  return outcome.analysis
    ? { id, stats: outcome.analysis.stats, error: null }
    : { id, stats: null, error: { code: outcome.problem.code, message: outcome.problem.message } };
}
