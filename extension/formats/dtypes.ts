/**
 * Element types as spelled on disk (safetensors' `Dtype` enum). `bits` is the storage width of one element;
 * sub-byte types are packed, so a run of `groupElements` elements fills whole bytes (`groupBytes`).
 */
export interface DTypeInfo {
  readonly name: string;
  readonly bits: number;
  readonly kind: 'float' | 'int' | 'uint' | 'bool' | 'complex';
}

const TABLE: readonly DTypeInfo[] = [
  { name: 'F64', bits: 64, kind: 'float' },
  { name: 'F32', bits: 32, kind: 'float' },
  { name: 'F16', bits: 16, kind: 'float' },
  { name: 'BF16', bits: 16, kind: 'float' },
  { name: 'F8_E4M3', bits: 8, kind: 'float' },
  { name: 'F8_E5M2', bits: 8, kind: 'float' },
  { name: 'F8_E8M0', bits: 8, kind: 'float' },
  { name: 'F8_E4M3FNUZ', bits: 8, kind: 'float' },
  { name: 'F8_E5M2FNUZ', bits: 8, kind: 'float' },
  { name: 'F6_E2M3', bits: 6, kind: 'float' },
  { name: 'F6_E3M2', bits: 6, kind: 'float' },
  { name: 'F4', bits: 4, kind: 'float' },
  { name: 'I64', bits: 64, kind: 'int' },
  { name: 'I32', bits: 32, kind: 'int' },
  { name: 'I16', bits: 16, kind: 'int' },
  { name: 'I8', bits: 8, kind: 'int' },
  { name: 'U64', bits: 64, kind: 'uint' },
  { name: 'U32', bits: 32, kind: 'uint' },
  { name: 'U16', bits: 16, kind: 'uint' },
  { name: 'U8', bits: 8, kind: 'uint' },
  { name: 'BOOL', bits: 8, kind: 'bool' },
  { name: 'C64', bits: 64, kind: 'complex' },
];

/** Other spellings in the wild (the Hugging Face Hub's TypeScript union). */
const ALIASES: Readonly<Record<string, string>> = { E8M0: 'F8_E8M0', UE8: 'F8_E8M0', FP4: 'F4' };

const BY_NAME = new Map(TABLE.map((d) => [d.name, d]));

/** The canonical entry for a dtype name or alias, or undefined when unknown. */
export function lookupDType(name: string): DTypeInfo | undefined {
  return BY_NAME.get(ALIASES[name] ?? name);
}

/** Smallest run of whole elements that fills whole bytes: F6 packs 4 elements in 3 bytes, F4 2 in 1. */
export function elementGroup(bits: number): { elements: number; bytes: number } {
  let elements = 1;
  while ((elements * bits) % 8 !== 0) elements *= 2;
  return { elements, bytes: (elements * bits) / 8 };
}
