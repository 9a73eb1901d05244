import * as vscode from 'vscode';
import { ScanEngine } from './engine/scanEngine';
import { CHECKPOINT_VIEW_TYPE, CheckpointEditorProvider, exportStatistics, INDEX_VIEW_TYPE } from './editor/checkpointEditorProvider';
import { openDiffPanel, openMergePanel, pickBase } from './editor/comparePanels';

export function activate(context: vscode.ExtensionContext): void {
  const distDir = vscode.Uri.joinPath(context.extensionUri, 'dist').fsPath;
  let engine: ScanEngine | undefined;
  // One worker pool for all open checkpoints, created on first use and rebuilt when its settings change.
  const sharedEngine = (): ScanEngine => {
    if (!engine) {
      const config = vscode.workspace.getConfiguration('weightscope');
      engine = new ScanEngine({
        distDir,
        workers: config.get<number>('workers', 0),
        chunkBytes: config.get<number>('chunkSizeMiB', 1) * (1 << 20),
      });
    }
    return engine;
  };
  context.subscriptions.push(
    { dispose: () => engine?.dispose() },
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('weightscope') && engine) {
        engine.dispose();
        engine = undefined;
      }
    }),
  );

  const provider = CheckpointEditorProvider.register(context, sharedEngine);
  const withActive = (action: (document: NonNullable<typeof provider.activeDocument>) => unknown) => () => {
    const document = provider.activeDocument;
    if (document) return action(document);
    void vscode.window.showInformationMessage(vscode.l10n.t('Open a checkpoint in Weightscope first.'));
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('weightscope.openCheckpoint', async (uri?: vscode.Uri) => {
      const target =
        uri ??
        (
          await vscode.window.showOpenDialog({
            canSelectMany: false,
            openLabel: vscode.l10n.t('Open Checkpoint'),
            filters: { Checkpoints: ['safetensors', 'onnx', 'json'] },
          })
        )?.[0];
      if (!target) return;
      const viewType = target.path.endsWith('.json') ? INDEX_VIEW_TYPE : CHECKPOINT_VIEW_TYPE;
      await vscode.commands.executeCommand('vscode.openWith', target, viewType);
    }),
    vscode.commands.registerCommand('weightscope.rescan', withActive((document) => document.rescan())),
    vscode.commands.registerCommand('weightscope.cancel', withActive((document) => document.cancel())),
    vscode.commands.registerCommand('weightscope.exportStatistics', withActive((document) => exportStatistics(document))),
    vscode.commands.registerCommand('weightscope.compareWithBase', async (uri?: vscode.Uri) => {
      const tuned = uri ?? provider.activeDocument?.uri;
      if (!tuned) {
        void vscode.window.showInformationMessage(vscode.l10n.t('Open a checkpoint in Weightscope first, then compare it with its base.'));
        return;
      }
      const base = await pickBase();
      if (base) await openDiffPanel(context.extensionUri, sharedEngine, base, tuned);
    }),
    vscode.commands.registerCommand('weightscope.compareSelected', async (uri?: vscode.Uri, uris?: vscode.Uri[]) => {
      const selected = uris && uris.length > 0 ? uris : uri ? [uri] : [];
      if (selected.length !== 2) {
        void vscode.window.showInformationMessage(vscode.l10n.t('Select exactly two checkpoints to compare (the first is the base).'));
        return;
      }
      await openDiffPanel(context.extensionUri, sharedEngine, selected[0]!, selected[1]!);
    }),
    vscode.commands.registerCommand('weightscope.mergeFineTunes', (uri?: vscode.Uri) => openMergePanel(context.extensionUri, sharedEngine, uri ?? provider.activeDocument?.uri)),
  );
}

export function deactivate(): void {}
