/** Opens an activation statistics file with the importer its name or its first bytes call for. */
import type { SourceOpener } from '../source/byteSource';
import { FormatError } from '../formats/formatError';
import type { ActivationImporter, ActivationStats } from './activationStats';
import { imatrixDatImporter } from './imatrixDat';
import { imatrixGgufImporter } from './imatrixGguf';
import { numpyStatsImporter } from './numpyStats';
import { pytorchStatsImporter } from './pytorchStats';
import { safetensorsStatsImporter } from './safetensorsStats';

/** Every importer, in the order content sniffing tries them (the legacy `.dat` has no magic: last). */
export const ACTIVATION_IMPORTERS: readonly ActivationImporter[] = [
  imatrixGgufImporter, safetensorsStatsImporter, numpyStatsImporter, pytorchStatsImporter, imatrixDatImporter,
];

const SNIFF_BYTES = 64;
const SUPPORTED = 'GGUF or legacy .dat importance matrix, safetensors, .npz, PyTorch act_scales';

export async function openActivationStats(path: string, opener: SourceOpener): Promise<ActivationStats> {
  if (!(await opener.exists(path)) || (await opener.isDirectory(path))) {
    throw new FormatError('FILE_NOT_FOUND', 'no such activation statistics file', path);
  }
  // Content first: names like .bin and .dat are generic. A file whose start is malformed goes by its name, so that
  // its importer can say what is wrong.
  const name = path.toLowerCase();
  const importer = (await byContent(path, opener)) ?? ACTIVATION_IMPORTERS.find((i) => i.extensions.some((ext) => name.endsWith(ext)));
  if (!importer) {
    throw new FormatError('UNSUPPORTED_FORMAT', `not an activation statistics format Weightscope reads (${SUPPORTED})`, path);
  }
  return importer.open(path, opener);
}

async function byContent(path: string, opener: SourceOpener): Promise<ActivationImporter | undefined> {
  const source = await opener.open(path);
  try {
    const head = new Uint8Array(Math.min(SNIFF_BYTES, source.size));
    await source.read(0, head);
    return ACTIVATION_IMPORTERS.find((i) => i.sniff(head));
  } finally {
    await source.close();
  }
}
