/**
 * Saliency in the editor for one opened checkpoint: the activation statistics imported for it and the base checkpoint
 * LIFT compares with (they belong to the document, and every panel showing it sees them), and per-weight saliency
 * results, cached within a bound. No `vscode` here: the provider asks for the files and turns requests into calls.
 */
import type { ActivationStats } from '../activations/activationStats';
import { openActivationStats } from '../activations/openActivations';
import { TaskError } from '../engine/computePool';
import { STANDOUT_FACTOR } from '../engine/outliers';
import { activationFit, analyseSaliency, methodsServed, needsActivations, planSaliency, statisticProblem } from '../engine/saliency';
import type { ScanEngine } from '../engine/scanEngine';
import type { ActivationInput } from '../engine/tasks/activations';
import { DEFAULT_RANK, MAX_RANK } from '../engine/saliencyTypes';
import { matrixShape, type Checkpoint, type TensorEntry } from '../formats/checkpoint';
import { openCheckpoint } from '../formats/openCheckpoint';
import type { ActivationsSummary, HostEvent, OutlierRecord, SaliencyDetail, SaliencyOutcome, SaliencyQuery } from '../protocol/messages';
import { nodeSourceOpener } from '../source/nodeFileSource';

/** Rankings kept per weight for the editor's tables. */
export const EDITOR_TOP = 32;
/** Results kept per document (each holds a few vectors of the weight's width). */
const CACHED_RESULTS = 24;
/** A weight the user is looking at outranks model-wide runs. */
const DETAIL_PRIORITY = 10;

const orNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The input channels that stand out in the weights' own outlier analysis: absmax ≥ STANDOUT_FACTOR × the median. */
function standoutColumns(record: OutlierRecord): number[] | null {
  const s = record.summary;
  if (!s) return null;
  const median = s.colMedian;
  return median !== null && median > 0 ? s.topCols.filter((c) => c.absmax >= STANDOUT_FACTOR * median).map((c) => c.index) : [];
}

export class DocumentSaliency {
  private stats: ActivationStats | undefined;
  private summary: ActivationsSummary | null = null;
  /** The checkpoint LIFT compares with: where a fine-tune's delta W − W_base landed. */
  private base: { file: string; checkpoint: Checkpoint } | undefined;
  private readonly results = new Map<string, Promise<SaliencyOutcome>>();
  private readonly abort = new AbortController();

  constructor(
    private readonly checkpoint: Checkpoint | undefined,
    private readonly engine: () => ScanEngine,
    private readonly notify: (event: HostEvent) => void,
    /** The outlier analysis of a tensor (the editor's, cached per document). */
    private readonly outliers: (id: number) => Promise<OutlierRecord>,
  ) {}

  activations(): ActivationsSummary | null {
    return this.summary;
  }

  /** Imports a statistics file for this checkpoint, replacing the previous one; throws the importer's FormatError. */
  async importFrom(path: string): Promise<ActivationsSummary> {
    if (!this.checkpoint) throw new Error('this checkpoint could not be read, so statistics cannot be joined with it');
    const stats = await openActivationStats(path, nodeSourceOpener);
    const fit = activationFit(this.checkpoint, stats);
    const statistics = [...new Set(stats.entries.flatMap((e) => Object.keys(e.statistics)))] as ActivationsSummary['statistics'];
    this.stats = stats;
    this.summary = {
      file: stats.file, format: stats.format, metadata: { ...stats.metadata }, entries: stats.entries.length, ...fit, statistics,
      methods: methodsServed(stats), notes: (stats.findings ?? []).map((f) => `${f.code}: ${f.message}`),
    };
    this.results.clear();
    this.notify({ type: 'activations', summary: this.summary });
    return this.summary;
  }

  /** Opens `path` as the base LIFT compares with, replacing the previous one; throws the reader's FormatError. */
  async setBase(path: string): Promise<string> {
    this.base = { file: path, checkpoint: await openCheckpoint(path, nodeSourceOpener) };
    for (const key of [...this.results.keys()].filter((k) => k.split(':')[1] === 'lift')) this.results.delete(key);
    this.notify({ type: 'saliencyBase', file: path });
    return path;
  }

  /**
   * Column weights for quantization errors: OBS's H_jj = Σx_j² of every weight the statistics cover with the right
   * length; undefined when there are no statistics or they hold neither Σx² nor ‖X‖₂.
   */
  quantWeights(): ((index: number) => ActivationInput | undefined) | undefined {
    if (!this.checkpoint || statisticProblem('obs', this.stats) !== undefined) return undefined;
    const byIndex = new Map(planSaliency(this.checkpoint, 'obs', this.stats).targets.map((t) => [t.index, t.activation]));
    return (index) => byIndex.get(index);
  }

  /** Saliency of one weight, computed on first request (SmoothQuant once per α). */
  analyse(query: SaliencyQuery): Promise<SaliencyOutcome> {
    const parameter = query.method === 'smoothquant' ? query.alpha : query.method === 'lift' ? query.rank ?? DEFAULT_RANK : '';
    const key = `${query.id}:${query.method}:${parameter}`;
    let outcome = this.results.get(key);
    if (!outcome) {
      outcome = this.compute(query);
      this.results.set(key, outcome);
      for (const oldest of this.results.keys()) {
        if (this.results.size <= CACHED_RESULTS) break;
        this.results.delete(oldest);
      }
    }
    return outcome;
  }

  /** The base's tensor of the same name and matrix shape, or why there is none. */
  private baseTensor(tensor: TensorEntry): { base?: TensorEntry; problem: string | null } {
    if (!this.base) return { problem: null };
    const base = this.base.checkpoint.tensors.find((t) => t.name === tensor.name);
    if (!base) return { problem: `the base has no tensor named ${tensor.name}` };
    if (base.problem) return { problem: `the base's tensor cannot be read (${base.problem.code}: ${base.problem.message})` };
    const [matrix, baseMatrix] = [matrixShape(tensor.shape), matrixShape(base.shape)];
    if (matrix.rows !== baseMatrix.rows || matrix.cols !== baseMatrix.cols) return { problem: `the base's tensor has shape [${base.shape.join(', ')}], not [${tensor.shape.join(', ')}]` };
    return { base, problem: null };
  }

  private async compute({ id, method, alpha, rank: asked }: SaliencyQuery): Promise<SaliencyOutcome> {
    const tensor = this.checkpoint?.tensors[id];
    const fail = (code: string, message: string): SaliencyOutcome => ({ detail: null, error: { code, message } });
    if (!tensor) return fail('INVALID_ARGUMENT', `no tensor ${id}`);
    const rank = asked ?? DEFAULT_RANK;
    if (method === 'lift' && !(Number.isInteger(rank) && rank >= 1 && rank <= MAX_RANK)) return fail('INVALID_ARGUMENT', `LIFT's rank is a whole number from 1 to ${MAX_RANK}`);
    if (needsActivations(method)) {
      const problem = statisticProblem(method, this.stats);
      if (problem) return fail('NO_STATISTICS', this.stats ? problem : `${method} joins the weights with activation statistics: import a file first`);
    }
    const plan = planSaliency(this.checkpoint!, method, this.stats, (name) => name === tensor.name);
    const target = plan.targets.find((t) => t.index === id);
    if (!target) {
      const skipped = plan.skipped.find((s) => s.name === tensor.name);
      return skipped ? fail(skipped.code, skipped.message) : fail('NOT_APPLICABLE', `${method} does not apply to this tensor`);
    }
    const { base, problem: baseProblem } = method === 'lift' ? this.baseTensor(tensor) : { problem: null };
    try {
      const [analysis, outlierChannels] = await Promise.all([
        analyseSaliency(this.engine().pool, target, {
          method, alpha, top: EDITOR_TOP, chunkBytes: this.engine().chunkBytes, signal: this.abort.signal, priority: DETAIL_PRIORITY,
          lift: { rank, overlaps: true, ...(base ? { base } : {}) },
        }),
        this.outliers(id).then(standoutColumns, () => null),
      ]);
      const detail: SaliencyDetail = {
        method, rows: target.rows, cols: target.cols,
        topChannels: analysis.topChannels.map((c) => ({ index: c.index, score: orNull(c.score) })),
        topWeights: analysis.topWeights.map((w) => ({ row: w.row, col: w.col, score: orNull(w.score) })),
        channelScores: analysis.channelScores, columnAbsmax: analysis.columnAbsmax, activations: analysis.activations,
        entry: target.activationEntry ?? null,
        outlierChannels,
        lift: method === 'lift' ? { rank, overlaps: analysis.overlaps, base: this.base?.file ?? null, baseProblem } : null,
      };
      return { detail, error: null };
    } catch (error) {
      const problem = error instanceof TaskError ? error : new TaskError('READ_ERROR', String(error));
      return fail(problem.code, problem.message);
    }
  }

  dispose(): void {
    this.abort.abort();
  }
}
