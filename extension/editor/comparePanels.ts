/**
 * The diff and merge panels: webview panels of their own (the same webview bundle, which boots into the diff or
 * merge view from the `open` reply), driven by a DiffSession or a MergeSession.
 */
import * as vscode from 'vscode';
import { DiffSession } from '../engine/diffSession';
import { MergeSession } from '../engine/mergeSession';
import type { ScanEngine } from '../engine/scanEngine';
import { FormatError } from '../formats/formatError';
import { nodeSourceOpener } from '../source/nodeFileSource';
import type { OpenResponse } from '../protocol/messages';
import { serveWebview, TileChannels } from './webviewRpc';

export const DIFF_VIEW_TYPE = 'weightscope.diff';
export const MERGE_VIEW_TYPE = 'weightscope.merge';

/** Checkpoint files the pickers offer. */
const CHECKPOINT_FILTERS = { Checkpoints: ['safetensors', 'json', 'gguf', 'onnx', 'bin', 'pt', 'pth', 'npz', 'npy'] };

/** Opens a panel comparing `a` (the base) with `b`: delta = b − a. */
export async function openDiffPanel(extensionUri: vscode.Uri, engine: () => ScanEngine, a: vscode.Uri, b: vscode.Uri): Promise<void> {
  const title = vscode.l10n.t('Δ {0} → {1}', basename(a), basename(b));
  const panel = vscode.window.createWebviewPanel(DIFF_VIEW_TYPE, title, vscode.ViewColumn.Active, { retainContextWhenHidden: true });
  let session: DiffSession | undefined;
  let failure: OpenResponse | undefined;
  try {
    session = await DiffSession.open(a.fsPath, b.fsPath, engine, nodeSourceOpener);
  } catch (error) {
    const e = error instanceof FormatError ? error : new FormatError('READ_ERROR', (error as Error).message, a.fsPath);
    failure = { kind: 'error', file: e.file, problem: { code: e.code, message: e.message } };
  }
  // The comparison starts when the webview asks for it, so it hears every update; a reloaded webview gets the state.
  let started = false;
  const tiles = new TileChannels();
  const served = serveWebview(panel.webview, extensionUri, {
    open: () => {
      if (!session) return failure!;
      if (started) return session.openResponse();
      started = true;
      return session.start();
    },
    deltaHistogram: ({ id }) => session?.histogram(id) ?? null,
    deltaTile: ({ id, channel, ...query }) => tiles.run(channel, (signal) => session!.tile(id, query, signal)),
    cancelTile: ({ channel }) => {
      tiles.cancel(channel);
      return null;
    },
    lowRank: ({ id, k }) => session!.lowRank(id, k),
    diffMode: ({ mode }) => session!.start(mode),
    copyText: async ({ text }) => {
      await vscode.env.clipboard.writeText(text);
      return null;
    },
  });
  session?.onUpdate((update) => served.send({ type: 'diffProgress', ...update }));
  panel.onDidDispose(() => {
    tiles.dispose();
    session?.stop();
    served.dispose();
  });
}

/** Opens the merge panel, with `base` as the base when given. */
export async function openMergePanel(extensionUri: vscode.Uri, engine: () => ScanEngine, base?: vscode.Uri): Promise<void> {
  const panel = vscode.window.createWebviewPanel(MERGE_VIEW_TYPE, vscode.l10n.t('Merge fine-tunes'), vscode.ViewColumn.Active, { retainContextWhenHidden: true });
  const session = new MergeSession(engine, nodeSourceOpener);
  if (base) await session.setBase(base.fsPath);
  const tiles = new TileChannels();
  const pick = async (many: boolean, label: string): Promise<readonly vscode.Uri[]> =>
    (await vscode.window.showOpenDialog({ canSelectMany: many, openLabel: label, filters: CHECKPOINT_FILTERS })) ?? [];
  const served = serveWebview(panel.webview, extensionUri, {
    open: () => ({ kind: 'merge', setup: session.setup() }),
    mergeChoose: async ({ what }) => {
      if (what === 'clear') return session.clear();
      const chosen = await pick(what === 'models', what === 'base' ? vscode.l10n.t('Use as Base') : vscode.l10n.t('Add Fine-tunes'));
      if (chosen.length === 0) return session.setup();
      return what === 'base' ? session.setBase(chosen[0]!.fsPath) : session.addModels(chosen.map((u) => u.fsPath));
    },
    mergePreview: ({ method, params }) => session.preview(method, params),
    mergeTile: ({ id, channel, ...query }) => tiles.run(channel, (signal) => session.tile(id, query, signal)),
    cancelTile: ({ channel }) => {
      tiles.cancel(channel);
      return null;
    },
    mergeExport: async ({ what }) => {
      const extension = what === 'mergekit' ? 'yml' : 'safetensors';
      const suggested = { model: 'merged', masks: 'masks', mergekit: 'mergekit' }[what];
      const target = await vscode.window.showSaveDialog({
        defaultUri: vscode.Uri.joinPath(vscode.workspace.workspaceFolders?.[0]?.uri ?? extensionUri, `${suggested}.${extension}`),
        filters: what === 'mergekit' ? { YAML: ['yml', 'yaml'] } : { Safetensors: ['safetensors'] },
      });
      if (!target) return null;
      await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Writing {0}', basename(target)) }, () => session.export(what, target.fsPath));
      void vscode.window.showInformationMessage(vscode.l10n.t('Wrote {0}', target.fsPath));
      return { path: target.fsPath };
    },
  });
  session.onUpdate((update) => served.send({ type: 'mergeProgress', ...update }));
  panel.onDidDispose(() => {
    tiles.dispose();
    session.stop();
    served.dispose();
  });
}

/** Asks for the base to compare a checkpoint with. */
export async function pickBase(): Promise<vscode.Uri | undefined> {
  return (await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: vscode.l10n.t('Compare with This Base'), filters: CHECKPOINT_FILTERS }))?.[0];
}

function basename(uri: vscode.Uri): string {
  return uri.path.split('/').pop() ?? uri.path;
}
