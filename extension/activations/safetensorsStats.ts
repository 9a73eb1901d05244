/** Activation statistics in a safetensors file, in the documented layout (activationStats.ts `LAYOUT_SUFFIXES`). */
import type { SourceOpener } from '../source/byteSource';
import { readSafetensorsHeader, safetensorsReader } from '../formats/safetensors';
import { entriesFromLayout, type ActivationImporter, type ActivationStats } from './activationStats';

export const safetensorsStatsImporter: ActivationImporter = {
  format: 'safetensors',
  extensions: ['.safetensors'],
  sniff: (head) => safetensorsReader.sniff(head),
  async open(path: string, opener: SourceOpener): Promise<ActivationStats> {
    const source = await opener.open(path);
    try {
      const header = await readSafetensorsHeader(source);
      return { format: 'safetensors', file: path, metadata: header.metadata, entries: entriesFromLayout(header.tensors, path) };
    } finally {
      await source.close();
    }
  },
};
