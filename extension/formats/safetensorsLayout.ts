/**
 * The layout of a safetensors file to be written: the header (8-byte little-endian length, then JSON padded with
 * spaces to a multiple of 8 bytes, as the Rust crate writes it) and every tensor's absolute data offset, computed
 * up front so the data can then be streamed in any order with positional writes.
 */
import { lookupDType } from './dtypes';

export interface PlannedTensor {
  name: string;
  dtype: string;
  shape: readonly number[];
  /** Data bytes (element count × element size, whole groups). */
  bytes: number;
}

export interface SafetensorsPlan {
  /** The first bytes of the file: length prefix and padded JSON header. */
  header: Uint8Array;
  /** Absolute byte offset of each tensor's data, in the order given. */
  offsets: number[];
  totalBytes: number;
}

export class LayoutError extends Error {}

export function planSafetensors(tensors: readonly PlannedTensor[], metadata: Readonly<Record<string, string>>): SafetensorsPlan {
  // Written entry by entry, not through an object: a JS object would move integer-like names ("10") first and turn
  // a tensor named "__proto__" into a prototype.
  const entries: string[] = Object.keys(metadata).length > 0 ? [`"__metadata__":${JSON.stringify(metadata)}`] : [];
  const names = new Set<string>();
  let offset = 0;
  const relative: number[] = [];
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name === '' || names.has(t.name)) throw new LayoutError(`cannot write a tensor named "${t.name}" (empty, reserved or repeated)`);
    if (!lookupDType(t.dtype)) throw new LayoutError(`cannot write dtype ${t.dtype}`);
    names.add(t.name);
    entries.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + t.bytes] })}`);
    relative.push(offset);
    offset += t.bytes;
  }
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  bytes.set(json, 8);
  return { header: bytes, offsets: relative.map((r) => bytes.length + r), totalBytes: bytes.length + offset };
}
