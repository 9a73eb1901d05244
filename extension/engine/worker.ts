/**
 * Worker thread: one WASM instance and its own file handles. Reads each chunk straight into WASM memory, so tensor
 * bytes are never copied through a JS buffer and never held whole.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { WasmCore, WasmCoreError } from './wasmCore';
import type { HostToWorker, StatsTask, WorkerSetup, WorkerToHost } from './workerProtocol';

const setup = workerData as WorkerSetup;
const core = WasmCore.load(readFileSync(setup.wasmPath));
const cancelFlag = new Int32Array(setup.cancelFlag);
const openFiles = new Map<string, number>();
const PROGRESS_EVERY_BYTES = 64 * 1024 * 1024;

function post(message: WorkerToHost): void {
  parentPort!.postMessage(message);
}

function fileDescriptor(path: string): number {
  let fd = openFiles.get(path);
  if (fd === undefined) {
    fd = openSync(path, 'r');
    openFiles.set(path, fd);
  }
  return fd;
}

class Cancelled extends Error {}

/** Streams the tensor once through `push`; throws Cancelled when the host asks. */
function streamTensor(task: StatsTask, push: (len: number) => void, reportProgress: boolean): void {
  const fd = fileDescriptor(task.file);
  let done = 0;
  let sinceProgress = 0;
  while (done < task.bytes) {
    if (Atomics.load(cancelFlag, 0) === task.taskId) throw new Cancelled();
    const len = Math.min(task.chunkBytes, task.bytes - done);
    const target = core.input(len);
    let filled = 0;
    while (filled < len) {
      const n = readSync(fd, target, filled, len - filled, task.offset + done + filled);
      if (n === 0) throw new Error(`file ended at byte ${task.offset + done + filled}, inside the tensor`);
      filled += n;
    }
    push(len);
    done += len;
    sinceProgress += len;
    if (reportProgress && sinceProgress >= PROGRESS_EVERY_BYTES) {
      post({ type: 'progress', taskId: task.taskId, bytes: sinceProgress });
      sinceProgress = 0;
    }
  }
  if (reportProgress && sinceProgress > 0) post({ type: 'progress', taskId: task.taskId, bytes: sinceProgress });
}

function runStats(task: StatsTask): void {
  let job;
  try {
    job = core.beginStats(task.dtype);
  } catch (error) {
    const code = error instanceof WasmCoreError ? error.code : 'WASM_ERROR';
    post({ type: 'failed', taskId: task.taskId, code, message: (error as Error).message });
    return;
  }
  try {
    // Exact quantiles of wide integer types need more passes over the same bytes; progress counts the first only.
    let firstPass = true;
    do {
      streamTensor(task, (len) => job.push(len), firstPass);
      firstPass = false;
    } while (job.endPass());
    const { stats, histogram } = job.result();
    post({ type: 'result', taskId: task.taskId, stats, histogram });
  } catch (error) {
    if (error instanceof Cancelled) post({ type: 'cancelled', taskId: task.taskId });
    else post({ type: 'failed', taskId: task.taskId, code: 'READ_ERROR', message: (error as Error).message });
  } finally {
    job.dispose();
  }
}

parentPort!.on('message', (message: HostToWorker) => {
  if (message.type === 'stats') runStats(message);
  else {
    for (const fd of openFiles.values()) closeSync(fd);
    openFiles.clear();
  }
});
