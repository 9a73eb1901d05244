/**
 * How analyses plug into the checkpoint editor: a `DetailPanel` is a tab in the detail of the selected tensor; a
 * `CheckpointView` is a model-wide view beside the tensor table (a ranking, a cross-layer picture). Each lives in
 * its own module and is listed in `webview/panels/index.ts`; `main.ts` mounts them.
 */
import type { TensorRow } from '../../extension/protocol/messages';
import type { HostClient } from '../rpc';
import type { CheckpointData, ViewState } from '../state';

export interface PanelContext {
  readonly host: HostClient;
  readonly data: CheckpointData;
  view(): ViewState;
  updateView(change: Partial<ViewState>): void;
  /** Selects a tensor in the Tensors view and shows one of its detail tabs. */
  showTensor(name: string, tab?: string): void;
  /** Shows a failed request in the notice line. */
  report(error: unknown): void;
}

/** What a mounted panel may do later: react to new statistics, and release what it holds. */
export interface Mounted {
  /** Statistics arrived or changed for the given tensor ids. */
  statsChanged?(ids: ReadonlySet<number>): void;
  dispose?(): void;
}

export interface DetailPanel {
  readonly id: string;
  readonly title: string;
  /** Draws a picture that wants room (a heatmap): selecting the tab widens the detail side of the split. */
  readonly wide?: boolean;
  /** Whether the tab makes sense for this tensor (a GGUF block tab only for quantized tensors, …). */
  applies(row: TensorRow, ctx: PanelContext): boolean;
  mount(container: HTMLElement, row: TensorRow, ctx: PanelContext): Mounted;
}

export interface CheckpointView {
  readonly id: string;
  readonly title: string;
  applies(ctx: PanelContext): boolean;
  mount(container: HTMLElement, ctx: PanelContext): Mounted;
}
