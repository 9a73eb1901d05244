/**
 * Host side of the compute engine: a pool of worker threads, a queue of per-tensor jobs, cancellation and
 * progress. Used by the editor, the CLI and the tests alike; knows nothing about VS Code.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { elementGroup, lookupDType } from '../formats/dtypes';
import type { TensorEntry, TensorProblem } from '../formats/checkpoint';
import type { TensorAnalysis } from './statsTypes';
import type { StatsTask, WorkerSetup, WorkerToHost } from './workerProtocol';

export const DEFAULT_CHUNK_BYTES = 1 << 20;
export const MAX_CHUNK_BYTES = 16 << 20;

export interface EngineOptions {
  /** Folder holding worker.js and weightscope.wasm. */
  distDir: string;
  /** Worker threads; 0 picks one per core, at most 4. */
  workers?: number;
  chunkBytes?: number;
}

/** What became of one tensor: its analysis, or the problem that stopped it. */
export type TensorOutcome =
  | { index: number; analysis: TensorAnalysis; problem?: undefined }
  | { index: number; analysis?: undefined; problem: TensorProblem };

export interface ScanCallbacks {
  onTensor?(outcome: TensorOutcome): void;
  /** Bytes of tensor data read so far in this scan (first pass only). */
  onProgress?(doneBytes: number): void;
}

export type ScanEnd = 'done' | 'cancelled';

interface PendingTask {
  task: StatsTask;
  index: number;
  scan: ScanRun;
}

interface ScanRun {
  callbacks: ScanCallbacks;
  remaining: number;
  doneBytes: number;
  cancelled: boolean;
  finish(end: ScanEnd): void;
}

interface PoolWorker {
  worker: Worker;
  cancelFlag: Int32Array;
  running?: PendingTask;
}

export class ScanEngine {
  private readonly options: Required<EngineOptions>;
  private readonly pool: PoolWorker[] = [];
  private readonly queue: PendingTask[] = [];
  private nextTaskId = 1;
  private disposed = false;

  constructor(options: EngineOptions) {
    const workers = options.workers && options.workers > 0 ? options.workers : Math.min(4, availableParallelism());
    const chunk = Math.min(Math.max(options.chunkBytes ?? DEFAULT_CHUNK_BYTES, 4096), MAX_CHUNK_BYTES);
    this.options = { distDir: options.distDir, workers, chunkBytes: chunk };
  }

  get workerCount(): number {
    return this.options.workers;
  }

  /**
   * Analyses the given tensors, largest first so the pool finishes together. Resolves when every tensor has an
   * outcome, or with 'cancelled' soon after `signal` aborts (running jobs stop between chunks).
   */
  scan(entries: readonly TensorEntry[], callbacks: ScanCallbacks = {}, signal?: AbortSignal): Promise<ScanEnd> {
    if (this.disposed) return Promise.reject(new Error('the scan engine was disposed'));
    return new Promise<ScanEnd>((resolve) => {
      const run: ScanRun = {
        callbacks,
        remaining: 0,
        doneBytes: 0,
        cancelled: false,
        finish: (end) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(end);
        },
      };
      const onAbort = (): void => this.cancelRun(run);
      const tasks: PendingTask[] = [];
      entries.forEach((entry, index) => {
        if (entry.problem) {
          callbacks.onTensor?.({ index, problem: entry.problem });
          return;
        }
        tasks.push({ task: this.taskFor(entry), index, scan: run });
      });
      run.remaining = tasks.length;
      if (tasks.length === 0) {
        resolve('done');
        return;
      }
      if (signal?.aborted) {
        resolve('cancelled');
        return;
      }
      signal?.addEventListener('abort', onAbort);
      tasks.sort((a, b) => b.task.bytes - a.task.bytes || a.index - b.index);
      this.queue.push(...tasks);
      this.pump();
    });
  }

  dispose(): void {
    this.disposed = true;
    for (const pending of this.queue.splice(0)) this.cancelRun(pending.scan);
    for (const member of this.pool) {
      if (member.running) this.cancelRun(member.running.scan);
      void member.worker.terminate();
    }
    this.pool.length = 0;
  }

  private taskFor(entry: TensorEntry): StatsTask {
    const info = lookupDType(entry.dtype);
    const groupBytes = info ? elementGroup(info.bits).bytes : 1;
    const chunkBytes = Math.max(groupBytes, this.options.chunkBytes - (this.options.chunkBytes % groupBytes));
    return {
      type: 'stats',
      taskId: this.nextTaskId++,
      file: entry.file,
      offset: entry.offset,
      bytes: entry.bytes,
      dtype: entry.dtype,
      chunkBytes,
    };
  }

  private cancelRun(run: ScanRun): void {
    if (run.cancelled || run.remaining === 0) return;
    run.cancelled = true;
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i]!.scan === run) this.queue.splice(i, 1);
    }
    const running = this.pool.filter((member) => member.running?.scan === run);
    for (const member of running) Atomics.store(member.cancelFlag, 0, member.running!.task.taskId);
    // Finished now if nothing is in flight; otherwise when the last running job reports back.
    if (running.length === 0) run.finish('cancelled');
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let member = this.pool.find((candidate) => !candidate.running);
      if (!member && this.pool.length < this.options.workers) member = this.spawn();
      if (!member) return;
      const pending = this.queue.shift()!;
      member.running = pending;
      member.worker.postMessage(pending.task);
    }
  }

  private spawn(): PoolWorker {
    const cancelFlag = new SharedArrayBuffer(4);
    const setup: WorkerSetup = { wasmPath: join(this.options.distDir, 'weightscope.wasm'), cancelFlag };
    const worker = new Worker(join(this.options.distDir, 'worker.js'), { workerData: setup });
    const member: PoolWorker = { worker, cancelFlag: new Int32Array(cancelFlag) };
    worker.on('message', (message: WorkerToHost) => this.onWorkerMessage(member, message));
    worker.on('error', (error) => this.onWorkerDied(member, error.message));
    worker.on('exit', (code) => {
      if (!this.disposed && this.pool.includes(member)) this.onWorkerDied(member, `worker exited with code ${code}`);
    });
    this.pool.push(member);
    return member;
  }

  private onWorkerMessage(member: PoolWorker, message: WorkerToHost): void {
    const pending = member.running;
    if (!pending || pending.task.taskId !== message.taskId) return;
    const run = pending.scan;
    if (message.type === 'progress') {
      run.doneBytes += message.bytes;
      if (!run.cancelled) run.callbacks.onProgress?.(run.doneBytes);
      return;
    }
    member.running = undefined;
    run.remaining--;
    if (!run.cancelled) {
      if (message.type === 'result') {
        run.callbacks.onTensor?.({ index: pending.index, analysis: { stats: message.stats, histogram: message.histogram } });
      } else if (message.type === 'failed') {
        run.callbacks.onTensor?.({ index: pending.index, problem: { code: message.code as TensorProblem['code'], message: message.message } });
      }
    }
    this.settle(run);
    this.pump();
  }

  private onWorkerDied(member: PoolWorker, reason: string): void {
    const index = this.pool.indexOf(member);
    if (index >= 0) this.pool.splice(index, 1);
    const pending = member.running;
    member.running = undefined;
    if (pending) {
      pending.scan.remaining--;
      if (!pending.scan.cancelled) {
        pending.scan.callbacks.onTensor?.({ index: pending.index, problem: { code: 'WASM_ERROR', message: reason } });
      }
      this.settle(pending.scan);
    }
    if (!this.disposed) this.pump();
  }

  /** Resolves a run once nothing of it is queued or running. */
  private settle(run: ScanRun): void {
    const inFlight = this.pool.some((member) => member.running?.scan === run);
    const queued = this.queue.some((pending) => pending.scan === run);
    if (run.cancelled && !inFlight) run.finish('cancelled');
    else if (!run.cancelled && run.remaining === 0 && !queued && !inFlight) run.finish('done');
  }
}
