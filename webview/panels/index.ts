/** Every detail tab and every model-wide view, in display order. */
import type { CheckpointView, DetailPanel } from './panel';
import { blocksPanel } from './blocksPanel';
import { saliencyPanel } from './saliencyPanel';
import { statisticsPanel } from './statisticsPanel';

export const DETAIL_PANELS: readonly DetailPanel[] = [statisticsPanel, blocksPanel, saliencyPanel];

/** Model-wide views shown as tabs beside "Tensors". */
export const CHECKPOINT_VIEWS: readonly CheckpointView[] = [];
