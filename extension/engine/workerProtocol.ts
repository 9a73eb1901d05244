/**
 * Messages between the compute pool (host side) and its workers, and the map of task kinds: each kind names its
 * spec (what the worker is asked) and its result. A new analysis adds one line to `TaskMap` and one runner in
 * worker.ts.
 */
import type { BlocksSpec, BlocksTaskResult } from './tasks/blocks';
import type { DeltaTileSpec } from './tasks/deltaTile';
import type { DiffSpec, DiffTaskResult } from './tasks/diff';
import type { MaskTileSpec } from './tasks/maskTile';
import type { LowRankSpec, LowRankTaskResult } from './tasks/lowRank';
import type { MergeSpec, MergeTaskResult } from './tasks/merge';
import type { ReadThroughResult, ReadThroughSpec } from './tasks/readThrough';
import type { SaliencySpec, SaliencyTaskResult } from './tasks/saliency';
import type { StatsBatchResult, StatsBatchSpec, StatsSpec, StatsTaskResult } from './tasks/stats';
import type { TileTaskResult, TileTaskSpec } from './tasks/tile';
import type { ChannelsSpec } from './tasks/channels';
import type { QuantSpec } from './tasks/quant';
import type { ChannelSummary, QuantSums } from './wasmCore';

export interface TaskMap {
  stats: { spec: StatsSpec; result: StatsTaskResult };
  statsBatch: { spec: StatsBatchSpec; result: StatsBatchResult };
  blocks: { spec: BlocksSpec; result: BlocksTaskResult };
  diff: { spec: DiffSpec; result: DiffTaskResult };
  deltaTile: { spec: DeltaTileSpec; result: TileTaskResult };
  maskTile: { spec: MaskTileSpec; result: TileTaskResult };
  lowRank: { spec: LowRankSpec; result: LowRankTaskResult };
  merge: { spec: MergeSpec; result: MergeTaskResult };
  readThrough: { spec: ReadThroughSpec; result: ReadThroughResult };
  tile: { spec: TileTaskSpec; result: TileTaskResult };
  channels: { spec: ChannelsSpec; result: ChannelSummary };
  quant: { spec: QuantSpec; result: QuantSums };
  saliency: { spec: SaliencySpec; result: SaliencyTaskResult };
}

export type TaskKind = keyof TaskMap & string;
export type TaskSpec<K extends TaskKind> = TaskMap[K]['spec'];
export type TaskResult<K extends TaskKind> = TaskMap[K]['result'];

/** Data every worker starts with. */
export interface WorkerSetup {
  wasmPath: string;
  /** One Int32 slot: the id of a task the host wants stopped. Read between chunks, so no message is needed. */
  cancelFlag: SharedArrayBuffer;
}

export type HostToWorker =
  | { type: 'run'; taskId: number; kind: TaskKind; spec: unknown }
  | { type: 'closeFiles' };

export type WorkerToHost =
  | { type: 'progress'; taskId: number; bytes: number }
  | { type: 'done'; taskId: number; result: unknown }
  | { type: 'failed'; taskId: number; code: string; message: string }
  | { type: 'cancelled'; taskId: number };
