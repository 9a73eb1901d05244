import * as vscode from 'vscode';
import type { ScanEngine } from '../engine/scanEngine';
import { statsReportToCsv } from '../engine/statsReport';
import { isQuantScheme, llamaQuantizeOverrides, llmCompressorIgnore, type QuantScheme } from '../engine/quantPreview';
import { inputFiles, outputConflict } from '../engine/outputFile';
import { FormatError } from '../formats/formatError';
import type { ActivationsSummary } from '../protocol/messages';
import { CheckpointDocument } from './checkpointDocument';
import { pickBase } from './comparePanels';
import { serveWebview, TileChannels } from './webviewRpc';

export const CHECKPOINT_VIEW_TYPE = 'weightscope.checkpoint';
export const INDEX_VIEW_TYPE = 'weightscope.checkpointIndex';
/** Formats whose file extensions other tools also claim (.onnx, .pt, .bin, .npy…): offered through "Open With…" and
 *  the Open Checkpoint command, never the default editor. */
export const BY_CHOICE_VIEW_TYPE = 'weightscope.checkpointByChoice';

/** The editor that suits a file, for the "Open Checkpoint" command. */
export function viewTypeFor(path: string): string {
  const name = path.toLowerCase();
  if (name.endsWith('.json')) return INDEX_VIEW_TYPE;
  return name.endsWith('.safetensors') || name.endsWith('.gguf') ? CHECKPOINT_VIEW_TYPE : BY_CHOICE_VIEW_TYPE;
}

/** Read-only custom editor for checkpoints; the same provider serves single files and sharded indexes. */
export class CheckpointEditorProvider implements vscode.CustomReadonlyEditorProvider<CheckpointDocument> {
  private readonly panels = new Map<vscode.WebviewPanel, CheckpointDocument>();

  static register(context: vscode.ExtensionContext, engine: () => ScanEngine): CheckpointEditorProvider {
    const provider = new CheckpointEditorProvider(context.extensionUri, engine);
    for (const viewType of [CHECKPOINT_VIEW_TYPE, INDEX_VIEW_TYPE, BY_CHOICE_VIEW_TYPE]) {
      context.subscriptions.push(
        vscode.window.registerCustomEditorProvider(viewType, provider, { supportsMultipleEditorsPerDocument: true }),
      );
    }
    return provider;
  }

  private constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly engine: () => ScanEngine,
  ) {}

  /** The document of the focused checkpoint editor, else of the only one open. */
  get activeDocument(): CheckpointDocument | undefined {
    for (const [panel, document] of this.panels) if (panel.active) return document;
    const documents = new Set(this.panels.values());
    return documents.size === 1 ? [...documents][0] : undefined;
  }

  openCustomDocument(uri: vscode.Uri): Promise<CheckpointDocument> {
    return CheckpointDocument.open(uri, this.engine);
  }

  resolveCustomEditor(document: CheckpointDocument, panel: vscode.WebviewPanel): void {
    this.panels.set(panel, document);
    const tiles = new TileChannels();
    const served = serveWebview(panel.webview, this.extensionUri, {
      open: () => {
        document.ensureScanned();
        return document.openResponse();
      },
      rescan: () => {
        document.rescan();
        return null;
      },
      cancel: () => {
        document.cancel();
        return null;
      },
      histogram: ({ id }) => document.histogram(id),
      blocks: ({ id }) => document.blocks(id),
      loraDelta: ({ id }) => document.loraDelta(id),
      copyText: async ({ text }) => {
        await vscode.env.clipboard.writeText(text);
        return null;
      },
      exportStats: async ({ format }) => {
        await exportStatistics(document, format);
        return null;
      },
      tile: ({ id, channel, ...query }) => tiles.run(channel, (signal) => document.analyses.tile(id, query, signal)),
      cancelTile: ({ channel }) => {
        tiles.cancel(channel);
        return null;
      },
      outliers: ({ id }) => document.analyses.outliers(id),
      quant: ({ id }) => document.analyses.quant(id),
      runAnalysis: ({ kind, schemes, restart }) => {
        document.analyses.runAnalysis(kind, schemes, restart);
        return null;
      },
      cancelAnalysis: ({ kind }) => {
        document.analyses.cancelAnalysis(kind);
        return null;
      },
      outlierView: () => document.analyses.outlierView(),
      quantView: () => document.analyses.quantView(),
      exportKeepList: async ({ scheme, thresholdDb, format }) => {
        if (!isQuantScheme(scheme)) throw new Error(`unknown scheme ${scheme}`);
        await exportKeepList(document, scheme, thresholdDb, format);
        return null;
      },
      activations: () => document.saliency.activations(),
      importActivations: () => importActivations(document),
      saliency: (query) => document.saliency.analyse(query),
      chooseSaliencyBase: () => chooseSaliencyBase(document),
    });
    const subscriptions = [
      document.onDidUpdate((update) => served.send({ type: 'scanProgress', ...update })),
      document.onAnalysisEvent((event) => served.send(event)),
      document.onSaliencyEvent((event) => served.send(event)),
      served,
    ];
    panel.onDidDispose(() => {
      tiles.dispose();
      this.panels.delete(panel);
      subscriptions.forEach((s) => s.dispose());
    });
  }
}

/**
 * Asks where to save a text derived from `document` and writes it there, unless the place is one of the checkpoint's
 * own files (Weightscope never writes to its inputs). The written file's URI, or undefined.
 */
async function saveText(document: CheckpointDocument, options: vscode.SaveDialogOptions, render: (target: vscode.Uri) => string): Promise<vscode.Uri | undefined> {
  const target = await vscode.window.showSaveDialog(options);
  if (!target) return undefined;
  const checkpoint = document.checkpoint;
  const conflict = target.scheme === 'file' && checkpoint
    ? outputConflict([{ flag: 'the export', path: target.fsPath }], inputFiles({ path: document.uri.fsPath, checkpoint }))
    : undefined;
  if (conflict) {
    void vscode.window.showErrorMessage(conflict);
    return undefined;
  }
  await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(render(target)));
  return target;
}

/** Asks where to save, then writes the statistics gathered so far as JSON or CSV. */
export async function exportStatistics(document: CheckpointDocument, format?: 'json' | 'csv'): Promise<void> {
  const report = document.report();
  if (!report) {
    void vscode.window.showWarningMessage(vscode.l10n.t('This checkpoint could not be read, so it has no statistics to export.'));
    return;
  }
  const target = await saveText(document, {
    defaultUri: vscode.Uri.file(`${document.uri.fsPath.replace(/(\.safetensors|\.gguf|\.bin)?(\.index\.json)?$/, '')}.stats.${format ?? 'json'}`),
    filters: format === 'csv' ? { CSV: ['csv'] } : format === 'json' ? { JSON: ['json'] } : { JSON: ['json'], CSV: ['csv'] },
  }, (uri) => (uri.path.endsWith('.csv') ? statsReportToCsv(report) : JSON.stringify(report, null, 2) + '\n'));
  if (target) void vscode.window.showInformationMessage(vscode.l10n.t('Statistics exported to {0}', target.fsPath));
}

/**
 * Asks where to save, then writes the tensors that lose most under `scheme` (SQNR below `thresholdDb`) as an
 * llm-compressor `ignore` list (YAML) or llama-quantize `--tensor-type` overrides. Checkpoint names are written as
 * they are: GGUF names need the GGUF name map.
 */
export async function exportKeepList(document: CheckpointDocument, scheme: QuantScheme, thresholdDb: number, format: 'llm-compressor' | 'llama-quantize'): Promise<void> {
  const tensors = document.analyses.keepList(scheme, thresholdDb);
  const base = document.uri.fsPath.replace(/(\.safetensors)?(\.index\.json)?$/, '');
  const target = await saveText(document, {
    defaultUri: vscode.Uri.file(format === 'llm-compressor' ? `${base}.${scheme}.ignore.yaml` : `${base}.${scheme}.tensor-types.txt`),
    filters: format === 'llm-compressor' ? { YAML: ['yaml', 'yml'], JSON: ['json'] } : { Text: ['txt'] },
  }, (uri) => (format === 'llm-compressor'
    ? llmCompressorIgnore(tensors, scheme, thresholdDb, uri.path.endsWith('.json') ? 'json' : 'yaml')
    : llamaQuantizeOverrides(tensors, scheme, thresholdDb)));
  if (target) void vscode.window.showInformationMessage(vscode.l10n.t('{0} tensor(s) to keep in higher precision written to {1}', tensors.length, target.fsPath));
}

/** Asks for the base checkpoint LIFT compares with (null when cancelled); one that cannot be read is reported. */
export async function chooseSaliencyBase(document: CheckpointDocument): Promise<string | null> {
  const base = await pickBase();
  if (!base) return null;
  try {
    return await document.saliency.setBase(base.fsPath);
  } catch (error) {
    const message = error instanceof FormatError ? error.describe() : (error as Error).message;
    void vscode.window.showErrorMessage(vscode.l10n.t('Could not open the base: {0}', message));
    throw error;
  }
}

/**
 * Asks for an activation statistics file and imports it into the document (null when cancelled). A file that cannot
 * be imported is reported in a notification and rejects, so the webview can say so too.
 */
export async function importActivations(document: CheckpointDocument): Promise<ActivationsSummary | null> {
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: vscode.l10n.t('Import Activation Statistics'),
    defaultUri: vscode.Uri.joinPath(document.uri, '..'),
    filters: {
      [vscode.l10n.t('Activation statistics')]: ['gguf', 'dat', 'safetensors', 'npz', 'npy', 'pt', 'pth', 'bin'],
      [vscode.l10n.t('All files')]: ['*'],
    },
  });
  const file = picked?.[0];
  if (!file) return null;
  try {
    const summary = await document.saliency.importFrom(file.fsPath);
    const unmatched = summary.unmatched.length > 0 ? vscode.l10n.t(' ({0} entries match no weight)', summary.unmatched.length) : '';
    void vscode.window.showInformationMessage(vscode.l10n.t('Imported {0}: statistics for {1} weights{2}.', file.fsPath, summary.matched, unmatched));
    return summary;
  } catch (error) {
    const message = error instanceof FormatError ? error.describe() : (error as Error).message;
    void vscode.window.showErrorMessage(vscode.l10n.t('Could not import activation statistics: {0}', message));
    throw error;
  }
}
