/**
 * Host side of the compute engine: a pool of worker threads, each with its own WASM instance, and a priority queue
 * of tasks. Every task can be cancelled (queued ones at once, running ones between chunks) and reports progress.
 * Used by the editor, the CLI and the tests alike; knows nothing about VS Code.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TaskKind, TaskResult, TaskSpec, WorkerSetup, WorkerToHost } from './workerProtocol';

export interface PoolOptions {
  /** Folder holding worker.js and weightscope.wasm. */
  distDir: string;
  /** Worker threads; 0 or absent picks one per core, at most 4. */
  workers?: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Bytes processed since the last call. */
  onProgress?(bytes: number): void;
  /** Higher runs first; equal priorities run in submission order. */
  priority?: number;
}

/** Why a task did not produce a result: a stable code (CANCELLED, UNSUPPORTED_DTYPE, READ_ERROR, …) and a message. */
export class TaskError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

interface Pending {
  taskId: number;
  kind: TaskKind;
  spec: unknown;
  priority: number;
  options: RunOptions;
  resolve(result: unknown): void;
  reject(error: TaskError): void;
  detach(): void;
}

interface PoolWorker {
  worker: Worker;
  cancelFlag: Int32Array;
  running?: Pending;
}

export class ComputePool {
  readonly workerCount: number;
  private readonly pool: PoolWorker[] = [];
  private readonly queue: Pending[] = [];
  private nextTaskId = 1;
  private disposed = false;

  constructor(private readonly options: PoolOptions) {
    this.workerCount = options.workers && options.workers > 0 ? options.workers : Math.min(4, availableParallelism());
  }

  run<K extends TaskKind>(kind: K, spec: TaskSpec<K>, options: RunOptions = {}): Promise<TaskResult<K>> {
    if (this.disposed) return Promise.reject(new TaskError('CANCELLED', 'the compute pool was disposed'));
    if (options.signal?.aborted) return Promise.reject(new TaskError('CANCELLED', 'cancelled'));
    return new Promise<TaskResult<K>>((resolve, reject) => {
      const onAbort = (): void => this.cancel(pending);
      const pending: Pending = {
        taskId: this.nextTaskId++,
        kind,
        spec,
        priority: options.priority ?? 0,
        options,
        resolve: resolve as (result: unknown) => void,
        reject,
        detach: () => options.signal?.removeEventListener('abort', onAbort),
      };
      options.signal?.addEventListener('abort', onAbort);
      // Insert after every task of the same or higher priority.
      const at = this.queue.findIndex((other) => other.priority < pending.priority);
      this.queue.splice(at < 0 ? this.queue.length : at, 0, pending);
      this.pump();
    });
  }

  dispose(): void {
    this.disposed = true;
    for (const pending of this.queue.splice(0)) this.settle(pending, new TaskError('CANCELLED', 'the compute pool was disposed'));
    for (const member of this.pool) {
      if (member.running) this.settle(member.running, new TaskError('CANCELLED', 'the compute pool was disposed'));
      void member.worker.terminate();
    }
    this.pool.length = 0;
  }

  /** Closes the workers' file handles (after files were replaced on disk, or a document closed). */
  closeFiles(): void {
    for (const member of this.pool) member.worker.postMessage({ type: 'closeFiles' });
  }

  private cancel(pending: Pending): void {
    const queued = this.queue.indexOf(pending);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      this.settle(pending, new TaskError('CANCELLED', 'cancelled'));
      return;
    }
    const member = this.pool.find((m) => m.running === pending);
    if (member) Atomics.store(member.cancelFlag, 0, pending.taskId);
  }

  private settle(pending: Pending, outcome: TaskError | { result: unknown }): void {
    pending.detach();
    if (outcome instanceof TaskError) pending.reject(outcome);
    else pending.resolve(outcome.result);
  }

  private pump(): void {
    while (this.queue.length > 0 && !this.disposed) {
      let member = this.pool.find((candidate) => !candidate.running);
      if (!member && this.pool.length < this.workerCount) member = this.spawn();
      if (!member) return;
      const pending = this.queue.shift()!;
      member.running = pending;
      member.worker.postMessage({ type: 'run', taskId: pending.taskId, kind: pending.kind, spec: pending.spec });
    }
  }

  private spawn(): PoolWorker {
    const cancelFlag = new SharedArrayBuffer(4);
    const setup: WorkerSetup = { wasmPath: join(this.options.distDir, 'weightscope.wasm'), cancelFlag };
    const worker = new Worker(join(this.options.distDir, 'worker.js'), { workerData: setup });
    const member: PoolWorker = { worker, cancelFlag: new Int32Array(cancelFlag) };
    worker.on('message', (message: WorkerToHost) => this.onMessage(member, message));
    worker.on('error', (error) => this.onDeath(member, error.message));
    worker.on('exit', (code) => this.onDeath(member, `worker exited with code ${code}`));
    this.pool.push(member);
    return member;
  }

  private onMessage(member: PoolWorker, message: WorkerToHost): void {
    const pending = member.running;
    if (!pending || pending.taskId !== message.taskId) return;
    if (message.type === 'progress') {
      pending.options.onProgress?.(message.bytes);
      return;
    }
    member.running = undefined;
    if (message.type === 'done') this.settle(pending, { result: message.result });
    else if (message.type === 'failed') this.settle(pending, new TaskError(message.code, message.message));
    else this.settle(pending, new TaskError('CANCELLED', 'cancelled'));
    this.pump();
  }

  /** A worker crashed (a WASM trap, out of memory): fail its task and let the pool start a fresh one. */
  private onDeath(member: PoolWorker, reason: string): void {
    const index = this.pool.indexOf(member);
    if (index < 0) return;
    this.pool.splice(index, 1);
    const pending = member.running;
    member.running = undefined;
    if (pending) this.settle(pending, new TaskError('WASM_ERROR', reason));
    if (!this.disposed) this.pump();
  }
}
