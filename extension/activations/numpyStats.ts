/** Activation statistics in a NumPy `.npz` (or one `.npy`), in the documented layout (activationStats.ts). */
import type { SourceOpener } from '../source/byteSource';
import { numpyReader } from '../formats/numpy';
import { entriesFromLayout, type ActivationImporter, type ActivationStats } from './activationStats';

export const numpyStatsImporter: ActivationImporter = {
  format: 'numpy',
  extensions: ['.npz', '.npy'],
  sniff: (head) => numpyReader.sniff(head),
  async open(path: string, opener: SourceOpener): Promise<ActivationStats> {
    const part = await numpyReader.open(path, opener);
    return { format: 'numpy', file: path, metadata: part.metadata, entries: entriesFromLayout(part.tensors, path) };
  },
};
