/**
 * Element types as spelled on disk: safetensors' `Dtype` enum for plain types, GGUF's type names for block-quantized
 * ones. Every type stores whole groups: `groupElements` elements in `groupBytes` bytes (1 element for byte-sized
 * types, 2 per byte for F4, 4 per 3 bytes for F6, one quantization block for GGUF types).
 */
export interface DTypeInfo {
  readonly name: string;
  readonly kind: 'float' | 'int' | 'uint' | 'bool' | 'complex' | 'quant';
  readonly groupElements: number;
  readonly groupBytes: number;
}

function plain(name: string, bits: number, kind: DTypeInfo['kind']): DTypeInfo {
  let groupElements = 1;
  while ((groupElements * bits) % 8 !== 0) groupElements *= 2;
  return { name, kind, groupElements, groupBytes: (groupElements * bits) / 8 };
}

function quant(name: string, groupElements: number, groupBytes: number): DTypeInfo {
  return { name, kind: 'quant', groupElements, groupBytes };
}

const TABLE: readonly DTypeInfo[] = [
  plain('F64', 64, 'float'),
  plain('F32', 32, 'float'),
  plain('F16', 16, 'float'),
  plain('BF16', 16, 'float'),
  plain('F8_E4M3', 8, 'float'),
  plain('F8_E5M2', 8, 'float'),
  plain('F8_E8M0', 8, 'float'),
  plain('F8_E4M3FNUZ', 8, 'float'),
  plain('F8_E5M2FNUZ', 8, 'float'),
  plain('F6_E2M3', 6, 'float'),
  plain('F6_E3M2', 6, 'float'),
  plain('F4', 4, 'float'),
  plain('I64', 64, 'int'),
  plain('I32', 32, 'int'),
  plain('I16', 16, 'int'),
  plain('I8', 8, 'int'),
  plain('U64', 64, 'uint'),
  plain('U32', 32, 'uint'),
  plain('U16', 16, 'uint'),
  plain('U8', 8, 'uint'),
  plain('BOOL', 8, 'bool'),
  plain('C64', 64, 'complex'),
  // GGUF block-quantized types (ggml-common.h block structs; gguf-py GGML_QUANT_SIZES).
  quant('Q4_0', 32, 18),
  quant('Q4_1', 32, 20),
  quant('Q5_0', 32, 22),
  quant('Q5_1', 32, 24),
  quant('Q8_0', 32, 34),
  quant('Q8_1', 32, 36),
  quant('Q2_K', 256, 84),
  quant('Q3_K', 256, 110),
  quant('Q4_K', 256, 144),
  quant('Q5_K', 256, 176),
  quant('Q6_K', 256, 210),
  quant('Q8_K', 256, 292),
  quant('IQ2_XXS', 256, 66),
  quant('IQ2_XS', 256, 74),
  quant('IQ3_XXS', 256, 98),
  quant('IQ1_S', 256, 50),
  quant('IQ4_NL', 32, 18),
  quant('IQ3_S', 256, 110),
  quant('IQ2_S', 256, 82),
  quant('IQ4_XS', 256, 136),
  quant('IQ1_M', 256, 56),
  quant('TQ1_0', 256, 54),
  quant('TQ2_0', 256, 66),
  quant('MXFP4', 32, 17),
  quant('NVFP4', 64, 36),
  quant('Q1_0', 128, 18),
  quant('Q2_0', 64, 18),
];

/** Other spellings in the wild (the Hugging Face Hub's TypeScript union). */
const ALIASES: Readonly<Record<string, string>> = { E8M0: 'F8_E8M0', UE8: 'F8_E8M0', FP4: 'F4' };

const BY_NAME = new Map(TABLE.map((d) => [d.name, d]));

/** The canonical entry for a dtype name or alias, or undefined when unknown. */
export function lookupDType(name: string): DTypeInfo | undefined {
  return BY_NAME.get(ALIASES[name] ?? name);
}

/** Bytes of `elements` elements, or undefined when they do not fill whole groups (a misaligned slice). */
export function bytesOf(info: DTypeInfo, elements: bigint): bigint | undefined {
  const groups = BigInt(info.groupElements);
  return elements % groups === 0n ? (elements / groups) * BigInt(info.groupBytes) : undefined;
}

/** Bytes of one element when that is a whole number (byte-sized plain types), else undefined. */
export function elementBytes(info: DTypeInfo): number | undefined {
  return info.groupElements === 1 ? info.groupBytes : undefined;
}
