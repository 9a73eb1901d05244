/**
 * Worker thread: one WASM instance and its own file handles. Runs one task at a time; tasks read chunks straight
 * into WASM memory, so tensor bytes are never copied through a JS buffer and never held whole.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { WasmCore } from './wasmCore';
import { FileTable, openTensorReader } from './tensorReader';
import { Cancelled, describeFailure, type TaskContext } from './tasks/taskContext';
import { runBlocks } from './tasks/blocks';
import { runSaliency } from './tasks/saliency';
import { runStats, runStatsBatch } from './tasks/stats';
import { runDeltaTile } from './tasks/deltaTile';
import { runDiff } from './tasks/diff';
import { runMaskTile } from './tasks/maskTile';
import { runLowRank } from './tasks/lowRank';
import { runMerge } from './tasks/merge';
import { runReadThrough } from './tasks/readThrough';
import { runTile } from './tasks/tile';
import { runChannels } from './tasks/channels';
import { runQuant } from './tasks/quant';
import type { HostToWorker, TaskKind, TaskResult, TaskSpec, WorkerSetup, WorkerToHost } from './workerProtocol';

type Runner<K extends TaskKind> = (spec: TaskSpec<K>, ctx: TaskContext) => Promise<TaskResult<K>>;

/** Every task kind's runner. */
const RUNNERS: { [K in TaskKind]: Runner<K> } = {
  stats: runStats,
  statsBatch: runStatsBatch,
  blocks: runBlocks,
  diff: runDiff,
  deltaTile: runDeltaTile,
  maskTile: runMaskTile,
  lowRank: runLowRank,
  merge: runMerge,
  readThrough: runReadThrough,
  tile: runTile,
  channels: runChannels,
  quant: runQuant,
  saliency: runSaliency,
};

const setup = workerData as WorkerSetup;
const core = WasmCore.load(readFileSync(setup.wasmPath));
const cancelFlag = new Int32Array(setup.cancelFlag);
const files = new FileTable();
/** Progress crosses to the host at most this often (in bytes), so tiny chunks do not flood it. */
const PROGRESS_EVERY_BYTES = 32 << 20;

function post(message: WorkerToHost, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

/** The buffers behind a result's typed arrays (a tile's megabytes of cells): moved to the host, not copied. Results
 *  are copies out of WASM memory, never views of it. */
function transferables(result: unknown): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  if (result && typeof result === 'object') {
    for (const value of Object.values(result)) {
      if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer && value.buffer !== core.exports.memory.buffer) buffers.add(value.buffer);
    }
  }
  return [...buffers];
}

async function run(taskId: number, kind: TaskKind, spec: unknown): Promise<void> {
  let unreported = 0;
  const ctx: TaskContext = {
    core,
    files,
    reader: (location, options) => openTensorReader(location, files, options),
    checkCancelled: () => {
      if (Atomics.load(cancelFlag, 0) === taskId) throw new Cancelled();
    },
    progress: (bytes) => {
      unreported += bytes;
      if (unreported >= PROGRESS_EVERY_BYTES) {
        post({ type: 'progress', taskId, bytes: unreported });
        unreported = 0;
      }
    },
  };
  try {
    const result = await (RUNNERS[kind] as Runner<TaskKind>)(spec as TaskSpec<TaskKind>, ctx);
    if (unreported > 0) post({ type: 'progress', taskId, bytes: unreported });
    post({ type: 'done', taskId, result }, transferables(result));
  } catch (error) {
    if (error instanceof Cancelled) post({ type: 'cancelled', taskId });
    else post({ type: 'failed', taskId, ...describeFailure(error) });
  }
}

// Tasks arrive one at a time (the pool waits for each to settle), so they never interleave.
parentPort!.on('message', (message: HostToWorker) => {
  if (message.type === 'run') void run(message.taskId, message.kind, message.spec);
  else files.closeAll();
});
