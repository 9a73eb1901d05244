/**
 * Protocol Buffers wire format, read in place through a small window over a ByteSource: a 2 GB message is walked
 * field by field without being loaded, and a large bytes field (an ONNX tensor's raw_data) is only located, never
 * read. Hostile input is bounded before anything is allocated: varints end within 10 bytes, every length is checked
 * against what its message has left, nesting is limited, and only the wire types protobuf still writes (varint,
 * 64-bit, length-delimited, 32-bit) are accepted. Unknown fields are the caller's to ignore.
 */
import type { ByteSource } from '../source/byteSource';
import { FormatError, type ErrorCode } from './formatError';
import { lenientUtf8 } from './utf8';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;
export type WireType = typeof WIRE_VARINT | typeof WIRE_FIXED64 | typeof WIRE_LEN | typeof WIRE_FIXED32;

/** How the values of a repeated scalar field are encoded, one by one or packed into one length-delimited run. */
export type ScalarEncoding = 'varint' | 'fixed32' | 'fixed64';

/** Messages nested deeper than this are refused (protobuf's own default recursion limit). */
export const MAX_NESTING = 100;
const WINDOW_BYTES = 64 << 10;
const MAX_VARINT_BYTES = 10;
const MAX_FIELD_NUMBER = 2 ** 29 - 1;
/** A tag and a varint or length prefix. */
const MAX_FIELD_HEADER_BYTES = 2 * MAX_VARINT_BYTES;

/** One field as found in a message. */
export interface ProtoField {
  readonly number: number;
  readonly wire: WireType;
  /** Absolute offset of the payload: the varint or fixed bytes, or what follows a length prefix. */
  readonly offset: number;
  /** Bytes of the payload. */
  readonly length: number;
  /** A varint field's value as an unsigned 64-bit integer (0 for other wire types). */
  readonly value: bigint;
}

/** The result of `decodeVarint`, reused between calls: the low and high 32 bits and the bytes it took. */
export interface Varint {
  lo: number;
  hi: number;
  /** Bytes the varint occupies; 0 when it does not end within the bytes given. */
  length: number;
}

const scratch: Varint = { lo: 0, hi: 0, length: 0 };

/**
 * Decodes the varint at `bytes[pos]`, reading no further than `end` and at most 10 bytes. Bits beyond 64 are
 * dropped, as protobuf does. The returned object is shared: copy what you need before the next call.
 */
export function decodeVarint(bytes: Uint8Array, pos: number, end: number): Varint {
  let lo = 0;
  let hi = 0;
  const stop = Math.min(end, pos + MAX_VARINT_BYTES);
  for (let i = pos; i < stop; i++) {
    const b = bytes[i]!;
    const payload = b & 0x7f;
    const k = i - pos;
    if (k < 4) lo |= payload << (7 * k);
    else if (k === 4) {
      lo |= (payload & 0x0f) << 28;
      hi = payload >>> 4;
    } else hi |= payload << (7 * k - 32);
    if (b < 0x80) {
      scratch.lo = lo >>> 0;
      scratch.hi = hi >>> 0;
      scratch.length = k + 1;
      return scratch;
    }
  }
  scratch.length = 0;
  return scratch;
}

export function varintToBigInt(v: Varint): bigint {
  return (BigInt(v.hi) << 32n) | BigInt(v.lo);
}

/** Writes the low `size` bytes (1, 2, 4 or 8) of a decoded varint, little-endian, at `target[at]`. */
export function writeVarintBytes(v: Varint, size: number, target: Uint8Array, at: number): void {
  for (let i = 0; i < size; i++) target[at + i] = (i < 4 ? v.lo >>> (8 * i) : v.hi >>> (8 * (i - 4))) & 0xff;
}

/**
 * A position in the values of repeated scalar field `number` of the message ending at `end`: packed runs, single
 * values, or both, in file order (protobuf readers must accept every mix). Start one with `valueCursor`.
 */
export interface ValueCursor {
  readonly end: number;
  readonly number: number;
  readonly encoding: ScalarEncoding;
  /** Where the next field tag is. */
  pos: number;
  /** The rest of the packed run being walked, if any. */
  runAt: number;
  runEnd: number;
}

export function valueCursor(start: number, end: number, number: number, encoding: ScalarEncoding): ValueCursor {
  return { end, number, encoding, pos: start, runAt: 0, runEnd: 0 };
}

export class ProtoReader {
  private readonly buffer = new Uint8Array(WINDOW_BYTES);
  private window = this.buffer.subarray(0, 0);
  private windowStart = 0;

  constructor(readonly source: ByteSource) {}

  get size(): number {
    return this.source.size;
  }

  error(code: ErrorCode, message: string): FormatError {
    return new FormatError(code, message, this.source.name);
  }

  /**
   * Calls `visit` for every field of the message spanning [start, end), in file order. `depth` is the message's
   * nesting level (0 for the outermost); deeper than MAX_NESTING is refused.
   */
  async forEachField(start: number, end: number, depth: number, visit: (field: ProtoField) => void | Promise<void>): Promise<void> {
    if (depth > MAX_NESTING) throw this.error('NESTING_TOO_DEEP', `messages are nested more than ${MAX_NESTING} deep at byte ${start}`);
    let pos = start;
    while (pos < end) {
      const field = this.holds(pos, Math.min(MAX_FIELD_HEADER_BYTES, end - pos)) ? this.heldField(pos, end) : await this.fieldAt(pos, end);
      const visited = visit(field);
      if (visited) await visited;
      pos = field.offset + field.length;
    }
  }

  /** The field whose tag starts at `pos`, checked to end by `end`. */
  private async fieldAt(pos: number, end: number): Promise<ProtoField> {
    await this.load(pos, Math.min(MAX_FIELD_HEADER_BYTES, end - pos));
    return this.heldField(pos, end);
  }

  /** `fieldAt` when the window already holds the field's header (its tag and its varint or length). */
  private heldField(pos: number, end: number): ProtoField {
    const tag = this.heldVarint(pos, Math.min(MAX_VARINT_BYTES, end - pos));
    const tagBytes = tag.length;
    if (tag.hi !== 0 || tag.lo >>> 3 === 0 || tag.lo >>> 3 > MAX_FIELD_NUMBER) {
      throw this.error('INVALID_FIELD_TAG', `field number ${tag.hi !== 0 ? 'beyond 2^29' : tag.lo >>> 3} is invalid at byte ${pos}`);
    }
    const number = tag.lo >>> 3;
    const wire = tag.lo & 7;
    const payload = pos + tagBytes;
    const fixed = (wireType: WireType, length: number): ProtoField => {
      if (length > end - payload) throw this.truncated(number, payload, length, end);
      return { number, wire: wireType, offset: payload, length, value: 0n };
    };
    switch (wire) {
      case WIRE_VARINT: {
        const v = this.heldVarint(payload, Math.min(MAX_VARINT_BYTES, end - payload));
        return { number, wire: WIRE_VARINT, offset: payload, length: v.length, value: varintToBigInt(v) };
      }
      case WIRE_FIXED64:
        return fixed(WIRE_FIXED64, 8);
      case WIRE_FIXED32:
        return fixed(WIRE_FIXED32, 4);
      case WIRE_LEN: {
        const v = this.heldVarint(payload, Math.min(MAX_VARINT_BYTES, end - payload));
        const length = v.hi * 2 ** 32 + v.lo;
        const body = payload + v.length;
        if (length > end - body) throw this.truncated(number, body, length, end);
        return { number, wire: WIRE_LEN, offset: body, length, value: 0n };
      }
      default:
        throw this.error('INVALID_FIELD_TAG', `field ${number} has wire type ${wire}, which is not one protobuf writes (0, 1, 2 or 5) at byte ${pos}`);
    }
  }

  private truncated(number: number, offset: number, length: number, end: number): FormatError {
    return this.error('TRUNCATED_MESSAGE', `field ${number} at byte ${offset} needs ${length} bytes but its message has only ${end - offset} left`);
  }

  /** Decodes the varint at `pos` from the window, which holds the `available` bytes it may use. */
  private heldVarint(pos: number, available: number): Varint {
    const at = pos - this.windowStart;
    const v = decodeVarint(this.window, at, at + available);
    if (v.length === 0) {
      throw available < MAX_VARINT_BYTES
        ? this.error('TRUNCATED_MESSAGE', `the varint at byte ${pos} runs past the end of its message`)
        : this.error('INVALID_VARINT', `the varint at byte ${pos} is longer than ${MAX_VARINT_BYTES} bytes`);
    }
    return v;
  }

  /** A length-delimited field as UTF-8 text, cut to `maxBytes` (at most the window, marked with "…"), so a hostile
   *  length costs nothing. */
  async text(field: ProtoField, maxBytes: number): Promise<string> {
    if (field.wire !== WIRE_LEN) return '';
    const length = Math.min(field.length, maxBytes, WINDOW_BYTES);
    if (!this.holds(field.offset, length)) await this.load(field.offset, length);
    const at = field.offset - this.windowStart;
    const text = lenientUtf8(this.window.subarray(at, at + length));
    return field.length > length ? `${text}…` : text;
  }

  /**
   * Continues walking the values of a repeated scalar field (see `ValueCursor`), calling `each` with the window and
   * position of each value's bytes, for at most `max` values. Returns how many it found: fewer than `max` only at
   * the end of the message.
   */
  async nextValues(cursor: ValueCursor, max: number, each: (bytes: Uint8Array, at: number, length: number) => void): Promise<number> {
    const { end, number, encoding } = cursor;
    const single = encoding === 'varint' ? WIRE_VARINT : encoding === 'fixed32' ? WIRE_FIXED32 : WIRE_FIXED64;
    const size = encoding === 'fixed32' ? 4 : 8;
    let found = 0;
    while (found < max) {
      if (cursor.runAt < cursor.runEnd) {
        // Inside a packed run: values are decoded straight from the window; only moving the window awaits.
        const at = cursor.runAt;
        const available = encoding === 'varint' ? Math.min(MAX_VARINT_BYTES, cursor.runEnd - at) : size;
        if (!this.holds(at, available)) await this.load(at, available);
        const length = encoding === 'varint' ? this.heldVarint(at, available).length : size;
        each(this.window, at - this.windowStart, length);
        cursor.runAt = at + length;
        found++;
        continue;
      }
      if (cursor.pos >= end) break;
      const field = this.holds(cursor.pos, Math.min(MAX_FIELD_HEADER_BYTES, end - cursor.pos)) ? this.heldField(cursor.pos, end) : await this.fieldAt(cursor.pos, end);
      cursor.pos = field.offset + field.length;
      // A record of another wire type is, to protobuf, an unknown field.
      if (field.number !== number || (field.wire !== single && field.wire !== WIRE_LEN)) continue;
      if (field.wire === single) {
        if (!this.holds(field.offset, field.length)) await this.load(field.offset, field.length);
        each(this.window, field.offset - this.windowStart, field.length);
        found++;
      } else if (encoding !== 'varint' && field.length % size !== 0) {
        throw this.error('TRUNCATED_MESSAGE', `packed field ${number} at byte ${field.offset} holds ${field.length} bytes, not whole ${size}-byte values`);
      } else {
        cursor.runAt = field.offset;
        cursor.runEnd = field.offset + field.length;
      }
    }
    return found;
  }

  private holds(offset: number, length: number): boolean {
    return offset >= this.windowStart && offset + length <= this.windowStart + this.window.length;
  }

  /** Moves the window to start at `offset`, holding at least `length` (≤ WINDOW_BYTES) bytes. */
  private async load(offset: number, length: number): Promise<void> {
    const want = Math.min(WINDOW_BYTES, this.source.size - offset);
    if (want < length) throw this.error('TRUNCATED_MESSAGE', `${length} bytes at byte ${offset} run past the end of the file`);
    const window = this.buffer.subarray(0, want);
    const n = await this.source.read(offset, window);
    if (n !== want) throw this.error('READ_ERROR', `short read at byte ${offset}: ${n} of ${want} bytes`);
    this.window = window;
    this.windowStart = offset;
  }
}
