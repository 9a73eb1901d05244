/**
 * Serving the webview's typed requests (protocol/messages.ts) from the host: every panel — the checkpoint editor,
 * a diff, a merge — answers the requests it handles and posts its events through this one loop.
 */
import * as vscode from 'vscode';
import type { Envelope, HostApi, HostEvent, HostMethod } from '../protocol/messages';
import { renderWebviewHtml } from './webviewHtml';

export type Handlers = { [M in HostMethod]?: (params: HostApi[M]['req']) => HostApi[M]['res'] | Promise<HostApi[M]['res']> };

export interface ServedWebview {
  send(event: HostEvent): void;
  dispose(): void;
}

/** Sets up the webview (scripts, local resources, the one HTML page) and answers requests with `handlers`. */
export function serveWebview(webview: vscode.Webview, extensionUri: vscode.Uri, handlers: Handlers): ServedWebview {
  webview.options = {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
  webview.html = renderWebviewHtml(webview, extensionUri);
  const post = (message: Envelope): void => void webview.postMessage(message);
  const subscription = webview.onDidReceiveMessage(async (message: Envelope) => {
    if (message?.kind !== 'req') return;
    const handler = handlers[message.method] as ((params: unknown) => unknown) | undefined;
    try {
      if (!handler) throw new Error(`unknown request "${String(message.method)}"`);
      post({ kind: 'res', id: message.id, ok: true, result: await handler(message.params) });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      post({ kind: 'res', id: message.id, ok: false, error: { code: typeof code === 'string' ? code : 'REQUEST_FAILED', message: (error as Error).message } });
    }
  });
  return { send: (event) => post({ kind: 'evt', event }), dispose: () => subscription.dispose() };
}

/** Heatmap tile requests, one in flight per channel (a heatmap view): a newer one cancels the older. */
export class TileChannels {
  private readonly requests = new Map<string, AbortController>();

  async run<T>(channel: string, compute: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.cancel(channel);
    const abort = new AbortController();
    this.requests.set(channel, abort);
    try {
      return await compute(abort.signal);
    } finally {
      if (this.requests.get(channel) === abort) this.requests.delete(channel);
    }
  }

  cancel(channel: string): void {
    this.requests.get(channel)?.abort();
    this.requests.delete(channel);
  }

  dispose(): void {
    for (const channel of [...this.requests.keys()]) this.cancel(channel);
  }
}
