import * as vscode from 'vscode';
import { ScanEngine } from './engine/scanEngine';
import { CheckpointEditorProvider, exportKeepList, exportStatistics, importActivations, viewTypeFor } from './editor/checkpointEditorProvider';
import { openDiffPanel, openMergePanel, pickBase } from './editor/comparePanels';
import { isQuantScheme } from './engine/quantPreview';

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
      const shown = uri ? undefined : activeCheckpointFile();
      const target =
        uri ??
        shown ??
        (
          await vscode.window.showOpenDialog({
            canSelectMany: false,
            openLabel: vscode.l10n.t('Open Checkpoint'),
            filters: { Checkpoints: CHECKPOINT_EXTENSIONS },
          })
        )?.[0];
      if (!target) return;
      await vscode.commands.executeCommand('vscode.openWith', target, viewTypeFor(target.path));
      // The checkpoint replaces the text editor (or binary-file notice) it was shown in.
      if (shown) {
        const stale = vscode.window.tabGroups.all
          .flatMap((group) => group.tabs)
          .filter((tab) => tab.input instanceof vscode.TabInputText && tab.input.uri.toString() === shown.toString());
        await vscode.window.tabGroups.close(stale);
      }
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
      if (!base) return;
      // The checkpoint's Saliency tab compares LIFT's principal weights with where this delta landed (a base that
      // cannot be read is reported by the diff panel).
      const document = provider.activeDocument;
      if (document?.uri.toString() === tuned.toString()) void document.saliency.setBase(base.fsPath).catch(() => undefined);
      await openDiffPanel(context.extensionUri, sharedEngine, base, tuned);
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
    vscode.commands.registerCommand('weightscope.exportKeepList', withActive(async (document) => {
      const scheme = document.analyses.quantView().schemes[0];
      const threshold = scheme && isQuantScheme(scheme) ? document.analyses.keepThreshold(scheme) : null;
      if (!scheme || !isQuantScheme(scheme) || threshold === null) {
        void vscode.window.showInformationMessage(vscode.l10n.t('Run a scheme in the Quantization view first.'));
        return;
      }
      const format = await vscode.window.showQuickPick(
        [
          { label: vscode.l10n.t('llm-compressor ignore list'), format: 'llm-compressor' as const },
          { label: vscode.l10n.t('llama-quantize tensor-type overrides'), format: 'llama-quantize' as const },
        ],
        { placeHolder: vscode.l10n.t('Tensors with SQNR below {0} dB under {1}', threshold.toFixed(1), scheme) },
      );
      if (format) await exportKeepList(document, scheme, threshold, format.format);
    })),
    vscode.commands.registerCommand('weightscope.importActivations', withActive((document) => importActivations(document).catch(() => null))),
  );
}

const CHECKPOINT_EXTENSIONS = ['safetensors', 'gguf', 'onnx', 'json', 'pt', 'pth', 'bin', 'ckpt', 'jit', 'npy', 'npz'];

/** The file of the focused text tab (or binary-file notice) when it is a checkpoint. */
function activeCheckpointFile(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
  const uri = input instanceof vscode.TabInputText ? input.uri : undefined;
  const extension = uri?.path.split('.').pop()?.toLowerCase();
  const checkpoint = extension !== undefined && CHECKPOINT_EXTENSIONS.includes(extension) && (extension !== 'json' || uri!.path.endsWith('.index.json'));
  return checkpoint ? uri : undefined;
}

export function deactivate(): void {}
