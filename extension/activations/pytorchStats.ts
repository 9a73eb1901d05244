/**
 * SmoothQuant / AWQ `act_scales` files (`torch.save` of a dict: module name → per-channel max|X|), and any PyTorch
 * dict in the documented layout (activationStats.ts), read by the restricted pickle reader: nothing in the file runs.
 * What the reader reports about the file (unexpected pickle globals, tensors it cannot list) comes along as findings.
 */
import type { SourceOpener } from '../source/byteSource';
import { pytorchReader } from '../formats/pytorch';
import { entriesFromLayout, type ActivationImporter, type ActivationStats } from './activationStats';

export const pytorchStatsImporter: ActivationImporter = {
  format: 'pytorch',
  extensions: ['.pt', '.pth', '.bin'],
  sniff: (head) => pytorchReader.sniff(head),
  async open(path: string, opener: SourceOpener): Promise<ActivationStats> {
    const part = await pytorchReader.open(path, opener);
    return {
      format: 'pytorch', file: path, metadata: part.metadata, entries: entriesFromLayout(part.tensors, path),
      ...(part.findings && part.findings.length > 0 ? { findings: part.findings } : {}),
    };
  },
};
