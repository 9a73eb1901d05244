import { writeTextFile } from '../engine/outputFile';
import {
  damageRanking, defaultKeepThreshold, hasQuantPreview, isQuantScheme, KEEP_FRACTIONS, keepList, llamaQuantizeOverrides, llmCompressorIgnore,
  QUANT_SCHEMES, quantDocument, runQuantPreview, type QuantScheme,
} from '../engine/quantPreview';
import { flagValue, parseArgs, UsageError } from './args';
import { analyseSelected, ENGINE_FLAGS, engineFromArgs, givenOutputs, printJson, printLine, type Command } from './command';
import { formatStat, renderTable } from './table';

const FLAGS = {
  json: {}, scheme: { value: true, repeat: true }, 'keep-outliers': {}, filter: { value: true },
  'export-ignore': { value: true }, 'export-llama-quantize': { value: true }, 'keep-below': { value: true }, ...ENGINE_FLAGS,
};

export const quantCommand: Command = {
  usage: `  quant PATH --scheme S [--scheme S2 ...] [--json] [--keep-outliers] [--filter GLOB]
        [--export-ignore FILE] [--export-llama-quantize FILE] [--keep-below DB]
        quantization error (MSE, SQNR, max |error|) of every float tensor under each scheme:
        ${QUANT_SCHEMES.join(', ')}`,
  run: runQuantCommand,
};

async function runQuantCommand(argv: string[]): Promise<number> {
  const args = parseArgs(argv, FLAGS);
  if (args.positionals.length !== 1) throw new UsageError('quant takes exactly one PATH');
  const given = args.flags.get('scheme') ?? [];
  if (given.length === 0) throw new UsageError(`quant needs at least one --scheme (${QUANT_SCHEMES.join(', ')})`);
  const unknown = given.find((s) => !isQuantScheme(s));
  if (unknown !== undefined) throw new UsageError(`unknown scheme "${unknown}" (known: ${QUANT_SCHEMES.join(', ')})`);
  const schemes = [...new Set(given)] as QuantScheme[];
  const keepOutliers = args.flags.has('keep-outliers');
  const keepBelowText = flagValue(args, 'keep-below');
  const keepBelow = keepBelowText === undefined ? undefined : Number(keepBelowText);
  if (keepBelow !== undefined && (keepBelowText!.trim() === '' || !Number.isFinite(keepBelow))) throw new UsageError(`--keep-below takes a number of dB, not "${keepBelowText}"`);
  const exportIgnore = flagValue(args, 'export-ignore');
  const exportLlama = flagValue(args, 'export-llama-quantize');
  const outputs = givenOutputs({ '--export-ignore': exportIgnore, '--export-llama-quantize': exportLlama });
  const engine = engineFromArgs(args);
  try {
    const { entries, outcomes } = await analyseSelected(args, hasQuantPreview, (entries, indices, onProgress) =>
      runQuantPreview(engine.pool, entries, indices, { schemes, keep: keepOutliers ? [...KEEP_FRACTIONS] : [], chunkBytes: engine.chunkBytes, onProgress }), outputs);
    if (exportIgnore !== undefined || exportLlama !== undefined) {
      // The keep list follows the first scheme given.
      const scheme = schemes[0]!;
      const ranking = damageRanking(entries, outcomes, scheme);
      const threshold = keepBelow ?? defaultKeepThreshold(entries, ranking) ?? Number.NEGATIVE_INFINITY;
      const kept = keepList(entries, ranking, threshold);
      if (exportIgnore !== undefined) await writeTextFile(exportIgnore, llmCompressorIgnore(kept, scheme, threshold, exportIgnore.endsWith('.json') ? 'json' : 'yaml'));
      if (exportLlama !== undefined) await writeTextFile(exportLlama, llamaQuantizeOverrides(kept, scheme, threshold));
      printLine(`${kept.length} tensor(s) with SQNR below ${threshold.toFixed(2)} dB under ${scheme} written to the keep list`);
    }
    const document = quantDocument(entries, outcomes, schemes, keepOutliers);
    if (args.flags.has('json')) printJson(document);
    else process.stdout.write(renderQuant(document));
  } finally {
    engine.dispose();
  }
  return 0;
}

function renderQuant(doc: ReturnType<typeof quantDocument>): string {
  const rows = doc.tensors.map((t) => [t.name, t.scheme, formatStat(t.mse), formatStat(t.sqnr_db), formatStat(t.max_abs_err)]);
  return renderTable(['name', 'scheme', 'mse', 'sqnr dB', 'max |err|'], rows, [2, 3, 4]);
}
