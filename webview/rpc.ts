/** Typed requests to the extension host over postMessage, and the host's events. */
import type { Envelope, HostApi, HostEvent, HostMethod, ProblemInfo } from '../extension/protocol/messages';

interface Poster {
  postMessage(message: unknown): void;
}

export class RequestError extends Error {
  constructor(readonly problem: ProblemInfo) {
    super(`${problem.code}: ${problem.message}`);
  }
}

export class HostClient {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private readonly listeners: ((event: HostEvent) => void)[] = [];

  constructor(private readonly vscode: Poster) {
    window.addEventListener('message', (e: MessageEvent<Envelope>) => this.receive(e.data));
  }

  request<M extends HostMethod>(method: M, params: HostApi[M]['req']): Promise<HostApi[M]['res']> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.vscode.postMessage({ kind: 'req', id, method, params } satisfies Envelope);
    });
  }

  /** Calls `listener` with every host event until the returned function is called. */
  onEvent(listener: (event: HostEvent) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  private receive(message: Envelope | undefined): void {
    if (message?.kind === 'evt') {
      for (const listener of this.listeners) listener(message.event);
    } else if (message?.kind === 'res') {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new RequestError(message.error));
    }
  }
}
