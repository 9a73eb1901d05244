/**
 * A restricted pickle reader: it understands every opcode of protocols 0–5 that appears in checkpoints (Python's
 * `pickletools` lists them) and builds plain values, but never resolves a GLOBAL to code. A GLOBAL becomes a
 * `PickleGlobal`; the caller's `resolveGlobal` may give it a data constructor (an OrderedDict, a tensor reference);
 * calling any other global yields an inert `OpaqueObject` and the global is recorded as unsafe. Everything is
 * bounded: lengths against the remaining input before allocation, operations, memo entries, LONG sizes.
 */
import { FormatError, type ErrorCode } from './formatError';
import { latin1 } from './latin1';
import { lenientUtf8, strictUtf8 } from './utf8';

export const MAX_OPERATIONS = 10_000_000;
export const MAX_MEMO_ENTRIES = 4_000_000;
const MAX_LONG_BYTES = 4096;
const MAX_LINE_BYTES = 1 << 20;

export class PickleTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

export class PickleList {
  constructor(readonly items: PickleValue[] = []) {}
}

export class PickleSet {
  constructor(
    readonly items: PickleValue[] = [],
    readonly frozen = false,
  ) {}
}

export class PickleBytes {
  constructor(readonly bytes: Uint8Array) {}
}

/** A dict in insertion order; equal primitive keys (1, 1.0, True) replace each other as in Python. */
export class PickleDict {
  readonly entries: [PickleValue, PickleValue][] = [];
  private readonly index = new Map<string, number>();
  /** What BUILD set on the dict object itself (an OrderedDict's `_metadata`): attributes, not items. */
  attributes: PickleValue = null;

  set(key: PickleValue, value: PickleValue): void {
    const hash = hashKey(key);
    const at = hash === undefined ? undefined : this.index.get(hash);
    if (at !== undefined) this.entries[at]![1] = value;
    else {
      if (hash !== undefined) this.index.set(hash, this.entries.length);
      this.entries.push([key, value]);
    }
  }

  get(key: string): PickleValue | undefined {
    const at = this.index.get(hashKey(key)!);
    return at === undefined ? undefined : this.entries[at]![1];
  }
}

/** What a resolver lets a global be: a plain value, a data constructor, or both. */
export interface GlobalBehaviour {
  /** Builds the result of calling the global (REDUCE, NEWOBJ) from its arguments. Never runs file code. */
  construct?(args: readonly PickleValue[]): PickleValue;
}

/** A GLOBAL reference: `module.name`, never imported. `safe` when the resolver knows it as data. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly behaviour: GlobalBehaviour | undefined,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }

  get safe(): boolean {
    return this.behaviour !== undefined;
  }
}

/** The inert result of calling a global Weightscope does not know: its arguments and state, for display only. */
export class OpaqueObject {
  state: PickleValue = null;
  constructor(
    readonly type: PickleGlobal,
    readonly args: readonly PickleValue[],
  ) {}
}

/** Values a resolver's constructors make (tensor references, …) accept BUILD state through this. */
export interface Buildable {
  setState(state: PickleValue): void;
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PickleBytes
  | PickleTuple
  | PickleList
  | PickleDict
  | PickleSet
  | PickleGlobal
  | OpaqueObject
  | object;

export interface UnpickleOptions {
  /** Name used in error messages ("data.pkl"). */
  readonly what: string;
  /** The file the pickle came from, for errors. */
  readonly file: string;
  resolveGlobal(module: string, name: string): GlobalBehaviour | undefined;
  /** Turns a persistent id (PyTorch's storage tuple) into a value; throw FormatError when it is malformed. */
  persistentLoad?(pid: PickleValue): PickleValue;
}

export interface UnpickleResult {
  readonly value: PickleValue;
  /** Offset just after the STOP opcode. */
  readonly end: number;
  /** Every global the pickle referenced that the resolver does not know, with the offset of its first reference. */
  readonly unsafeGlobals: ReadonlyMap<string, { global: PickleGlobal; offset: number }>;
}

/** Runs the restricted reader over one pickle starting at `start`, up to its STOP. */
export function unpickle(bytes: Uint8Array, start: number, options: UnpickleOptions): UnpickleResult {
  return new Machine(bytes, start, options).run();
}

class Machine {
  private pos: number;
  private stack: PickleValue[] = [];
  private marks: number[] = [];
  /** Memo slots: dense indices (what picklers write) in an array, any others in a map. */
  private readonly memo: PickleValue[] = [];
  private readonly sparseMemo = new Map<number, PickleValue>();
  private readonly globals = new Map<string, PickleGlobal>();
  private readonly unsafe = new Map<string, { global: PickleGlobal; offset: number }>();
  private readonly view: DataView;
  private opStart = 0;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly options: UnpickleOptions,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(code: ErrorCode, message: string): never {
    throw new FormatError(code, `${this.options.what}, byte ${this.opStart}: ${message}`, this.options.file);
  }

  run(): UnpickleResult {
    for (let ops = 0; ; ops++) {
      if (ops >= MAX_OPERATIONS) this.fail('PICKLE_LIMIT', `more than ${MAX_OPERATIONS} operations`);
      this.opStart = this.pos;
      const op = this.u8();
      if (op === 0x2e) {
        // STOP
        const value = this.pop();
        return { value, end: this.pos, unsafeGlobals: this.unsafe };
      }
      this.step(op);
    }
  }

  private step(op: number): void {
    switch (op) {
      case 0x80: // PROTO
        if (this.u8() > 5) this.fail('PICKLE_BAD_OPCODE', 'pickle protocol above 5');
        return;
      case 0x95: // FRAME: a length hint only
        if (this.u64() > this.remaining()) this.fail('PICKLE_TRUNCATED', 'a frame runs past the end of the input');
        return;
      case 0x28: // MARK
        this.marks.push(this.stack.length);
        return;
      case 0x29: // EMPTY_TUPLE
        return this.push(new PickleTuple([]));
      case 0x85: // TUPLE1
        return this.push(new PickleTuple(this.popN(1)));
      case 0x86: // TUPLE2
        return this.push(new PickleTuple(this.popN(2)));
      case 0x87: // TUPLE3
        return this.push(new PickleTuple(this.popN(3)));
      case 0x74: // TUPLE
        return this.push(new PickleTuple(this.popMark()));
      case 0x5d: // EMPTY_LIST
        return this.push(new PickleList());
      case 0x6c: // LIST
        return this.push(new PickleList(this.popMark()));
      case 0x7d: // EMPTY_DICT
        return this.push(new PickleDict());
      case 0x64: // DICT
        return this.push(this.fillDict(new PickleDict(), this.popMark()));
      case 0x8f: // EMPTY_SET
        return this.push(new PickleSet());
      case 0x91: // FROZENSET
        return this.push(new PickleSet(this.popMark(), true));
      case 0x61: {
        // APPEND
        const item = this.pop();
        this.listAt(this.top()).push(item);
        return;
      }
      case 0x65: {
        // APPENDS
        const items = this.popMark();
        const list = this.listAt(this.top());
        for (const item of items) list.push(item);
        return;
      }
      case 0x90: {
        // ADDITEMS
        const items = this.popMark();
        const set = this.top();
        if (!(set instanceof PickleSet)) this.fail('PICKLE_INVALID', 'ADDITEMS on something that is not a set');
        for (const item of items) (set as PickleSet).items.push(item);
        return;
      }
      case 0x73: {
        // SETITEM
        const [key, value] = this.popN(2);
        this.fillDict(this.top(), [key!, value!]);
        return;
      }
      case 0x75: // SETITEMS
        this.fillDict(this.topBelowMark(), this.popMark());
        return;
      case 0x4e: // NONE
        return this.push(null);
      case 0x88: // NEWTRUE
        return this.push(true);
      case 0x89: // NEWFALSE
        return this.push(false);
      case 0x4b: // BININT1
        return this.push(this.u8());
      case 0x4d: // BININT2
        return this.push(this.u16());
      case 0x4a: // BININT
        return this.push(this.view.getInt32(this.take(4), true));
      case 0x8a: // LONG1
        return this.push(this.long(this.u8()));
      case 0x8b: {
        // LONG4
        const n = this.view.getInt32(this.take(4), true);
        if (n < 0) this.fail('PICKLE_INVALID', 'negative LONG4 length');
        return this.push(this.long(n));
      }
      case 0x49: // INT (text): also protocol 0's booleans
        return this.push(this.textInt(this.line(), false));
      case 0x4c: // LONG (text)
        return this.push(this.textInt(this.line(), true));
      case 0x47: // BINFLOAT
        return this.push(this.view.getFloat64(this.take(8), false));
      case 0x46: // FLOAT (text)
        return this.push(this.textFloat(this.line()));
      case 0x58: // BINUNICODE
        return this.push(this.utf8(this.u32()));
      case 0x8c: // SHORT_BINUNICODE
        return this.push(this.utf8(this.u8()));
      case 0x8d: // BINUNICODE8
        return this.push(this.utf8(this.u64()));
      case 0x56: // UNICODE (raw-unicode-escape text)
        return this.push(rawUnicodeEscape(this.line('latin1'), (m) => this.fail('PICKLE_INVALID', m)));
      case 0x54: {
        // BINSTRING (Python 2 str)
        const n = this.view.getInt32(this.take(4), true);
        if (n < 0) this.fail('PICKLE_INVALID', 'negative BINSTRING length');
        return this.push(this.py2String(n));
      }
      case 0x55: // SHORT_BINSTRING
        return this.push(this.py2String(this.u8()));
      case 0x53: // STRING (quoted text)
        return this.push(this.quotedString(this.line()));
      case 0x42: // BINBYTES
        return this.push(new PickleBytes(this.bytesOf(this.u32())));
      case 0x43: // SHORT_BINBYTES
        return this.push(new PickleBytes(this.bytesOf(this.u8())));
      case 0x8e: // BINBYTES8
        return this.push(new PickleBytes(this.bytesOf(this.u64())));
      case 0x96: // BYTEARRAY8
        return this.push(new PickleBytes(this.bytesOf(this.u64())));
      case 0x63: {
        // GLOBAL
        const module = this.line();
        return this.push(this.global(module, this.line()));
      }
      case 0x93: {
        // STACK_GLOBAL
        const [module, name] = this.popN(2);
        if (typeof module !== 'string' || typeof name !== 'string') this.fail('PICKLE_INVALID', 'STACK_GLOBAL needs two strings');
        return this.push(this.global(module as string, name as string));
      }
      case 0x82: // EXT1
        return this.push(this.extension(this.u8()));
      case 0x83: // EXT2
        return this.push(this.extension(this.u16()));
      case 0x84: // EXT4
        return this.push(this.extension(this.view.getInt32(this.take(4), true)));
      case 0x52: {
        // REDUCE
        const args = this.pop();
        const callable = this.pop();
        if (!(args instanceof PickleTuple)) this.fail('PICKLE_INVALID', 'REDUCE arguments are not a tuple');
        return this.push(this.call(callable, (args as PickleTuple).items));
      }
      case 0x81: {
        // NEWOBJ
        const args = this.pop();
        const cls = this.pop();
        if (!(args instanceof PickleTuple)) this.fail('PICKLE_INVALID', 'NEWOBJ arguments are not a tuple');
        return this.push(this.call(cls, (args as PickleTuple).items));
      }
      case 0x92: {
        // NEWOBJ_EX: keyword arguments are kept with the opaque object's state
        const [cls, args, kwargs] = this.popN(3);
        if (!(args instanceof PickleTuple) || !(kwargs instanceof PickleDict)) this.fail('PICKLE_INVALID', 'NEWOBJ_EX needs a tuple and a dict');
        return this.push(this.call(cls!, (args as PickleTuple).items));
      }
      case 0x69: {
        // INST: module and name lines, arguments since the mark
        const module = this.line();
        const type = this.global(module, this.line());
        return this.push(this.call(type, this.popMark()));
      }
      case 0x6f: {
        // OBJ: class and arguments since the mark
        const [type, ...args] = this.popMark();
        if (type === undefined) this.fail('PICKLE_STACK_UNDERFLOW', 'OBJ without a class');
        return this.push(this.call(type!, args));
      }
      case 0x62: {
        // BUILD
        const state = this.pop();
        this.build(this.top(), state);
        return;
      }
      case 0x51: // BINPERSID
        return this.push(this.persistent(this.pop()));
      case 0x50: // PERSID
        return this.push(this.persistent(this.line()));
      case 0x71: // BINPUT
        return this.put(this.u8());
      case 0x72: // LONG_BINPUT
        return this.put(this.u32());
      case 0x70: // PUT
        return this.put(this.lineIndex());
      case 0x94: // MEMOIZE
        return this.put(this.memo.length + this.sparseMemo.size);
      case 0x68: // BINGET
        return this.push(this.get(this.u8()));
      case 0x6a: // LONG_BINGET
        return this.push(this.get(this.u32()));
      case 0x67: // GET
        return this.push(this.get(this.lineIndex()));
      case 0x30: // POP
        if (this.stack.length > this.currentMark()) this.stack.pop();
        else if (this.marks.length > 0) this.marks.pop();
        else this.fail('PICKLE_STACK_UNDERFLOW', 'POP on an empty stack');
        return;
      case 0x31: // POP_MARK
        this.popMark();
        return;
      case 0x32: // DUP
        return this.push(this.top());
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        return this.fail('PICKLE_BAD_OPCODE', 'out-of-band buffers (protocol 5) are not stored in the file');
      default:
        return this.fail('PICKLE_BAD_OPCODE', `unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }

  // --- stack -------------------------------------------------------------------------------------------------

  private push(value: PickleValue): void {
    this.stack.push(value);
  }

  private currentMark(): number {
    return this.marks.length > 0 ? this.marks[this.marks.length - 1]! : 0;
  }

  private pop(): PickleValue {
    if (this.stack.length <= this.currentMark()) this.fail('PICKLE_STACK_UNDERFLOW', 'the stack is empty');
    return this.stack.pop()!;
  }

  private popN(n: number): PickleValue[] {
    if (this.stack.length - n < this.currentMark()) this.fail('PICKLE_STACK_UNDERFLOW', `needs ${n} values on the stack`);
    return this.stack.splice(this.stack.length - n, n);
  }

  private top(): PickleValue {
    if (this.stack.length <= this.currentMark()) this.fail('PICKLE_STACK_UNDERFLOW', 'the stack is empty');
    return this.stack[this.stack.length - 1]!;
  }

  private popMark(): PickleValue[] {
    const mark = this.marks.pop();
    if (mark === undefined) return this.fail('PICKLE_STACK_UNDERFLOW', 'no MARK on the stack');
    return this.stack.splice(mark);
  }

  /** The value just below the innermost mark (the target of APPENDS / SETITEMS). */
  private topBelowMark(): PickleValue {
    const mark = this.marks[this.marks.length - 1];
    if (mark === undefined) return this.fail('PICKLE_STACK_UNDERFLOW', 'no MARK on the stack');
    const outer = this.marks.length > 1 ? this.marks[this.marks.length - 2]! : 0;
    if (mark <= outer) this.fail('PICKLE_STACK_UNDERFLOW', 'nothing below the MARK');
    return this.stack[mark - 1]!;
  }

  private listAt(value: PickleValue): PickleValue[] {
    if (value instanceof PickleList) return value.items;
    // APPEND/APPENDS on anything else calls its append or extend method: never done here.
    return this.fail('PICKLE_INVALID', 'APPEND on something that is not a list');
  }

  private fillDict(target: PickleValue, items: PickleValue[]): PickleDict {
    if (!(target instanceof PickleDict)) return this.fail('PICKLE_INVALID', 'SETITEM on something that is not a dict');
    if (items.length % 2 !== 0) this.fail('PICKLE_INVALID', 'an odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) target.set(items[i]!, items[i + 1]!);
    return target;
  }

  // --- memo --------------------------------------------------------------------------------------------------

  private put(index: number): void {
    const value = this.top();
    if (index < this.memo.length) this.memo[index] = value;
    else if (this.memo.length + this.sparseMemo.size >= MAX_MEMO_ENTRIES && !this.sparseMemo.has(index)) {
      this.fail('PICKLE_LIMIT', `more than ${MAX_MEMO_ENTRIES} memo entries`);
    } else if (index === this.memo.length && !this.sparseMemo.has(index)) this.memo.push(value);
    else this.sparseMemo.set(index, value);
  }

  private get(index: number): PickleValue {
    if (index < this.memo.length) return this.memo[index]!;
    if (!this.sparseMemo.has(index)) this.fail('PICKLE_MEMO_MISSING', `memo entry ${index} was never stored`);
    return this.sparseMemo.get(index)!;
  }

  // --- globals and calls -------------------------------------------------------------------------------------

  private global(module: string, name: string): PickleGlobal {
    const key = `${module}\n${name}`;
    let global = this.globals.get(key);
    if (!global) {
      global = new PickleGlobal(module, name, this.options.resolveGlobal(module, name));
      this.globals.set(key, global);
      if (!global.safe) this.unsafe.set(global.qualifiedName, { global, offset: this.opStart });
    }
    return global;
  }

  private extension(code: number): PickleGlobal {
    // The copyreg extension registry maps codes to globals at load time: unknowable here, so unsafe.
    return this.global('copyreg._extension_registry', String(code));
  }

  private call(callable: PickleValue, args: readonly PickleValue[]): PickleValue {
    if (!(callable instanceof PickleGlobal)) {
      return this.fail('PICKLE_INVALID', 'calls something that is not a global (a class or function)');
    }
    const construct = callable.behaviour?.construct;
    if (!construct) return new OpaqueObject(callable, args);
    try {
      return construct(args);
    } catch (error) {
      if (error instanceof FormatError) throw error;
      return this.fail('PICKLE_INVALID', `${callable.qualifiedName}: ${(error as Error).message}`);
    }
  }

  private build(target: PickleValue, state: PickleValue): void {
    if (target instanceof OpaqueObject) target.state = state;
    else if (target instanceof PickleDict) target.attributes = state;
    else if (isBuildable(target)) {
      try {
        target.setState(state);
      } catch (error) {
        if (error instanceof FormatError) throw error;
        this.fail('PICKLE_INVALID', `BUILD: ${(error as Error).message}`);
      }
    } else if (!(target instanceof PickleGlobal) && !(target instanceof PickleList) && !(target instanceof PickleSet)) {
      this.fail('PICKLE_INVALID', 'BUILD on a value that takes no state');
    }
  }

  private persistent(pid: PickleValue): PickleValue {
    if (!this.options.persistentLoad) return this.fail('PICKLE_INVALID', 'a persistent id, which this kind of pickle cannot have');
    return this.options.persistentLoad(pid);
  }

  // --- input -------------------------------------------------------------------------------------------------

  private remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** Claims `n` bytes and returns where they start; fails before anything is allocated if they are not there. */
  private take(n: number): number {
    if (n > this.remaining()) this.fail('PICKLE_TRUNCATED', `needs ${n} more bytes but the input ends after ${this.remaining()}`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.take(1)]!;
  }

  private u16(): number {
    return this.view.getUint16(this.take(2), true);
  }

  private u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  private u64(): number {
    const value = this.view.getBigUint64(this.take(8), true);
    if (value > BigInt(this.remaining())) this.fail('PICKLE_TRUNCATED', `a length of ${value} runs past the end of the input`);
    return Number(value);
  }

  private bytesOf(n: number): Uint8Array {
    const at = this.take(n);
    return this.bytes.slice(at, at + n);
  }

  private utf8(n: number): string {
    const at = this.take(n);
    try {
      return strictUtf8(this.bytes.subarray(at, at + n));
    } catch {
      return this.fail('PICKLE_INVALID', 'a string that is not valid UTF-8');
    }
  }

  /** Python 2 `str`: read as torch.load does (UTF-8), falling back to Latin-1 for other bytes. */
  private py2String(n: number): string {
    const at = this.take(n);
    const raw = this.bytes.subarray(at, at + n);
    try {
      return strictUtf8(raw);
    } catch {
      return latin1(raw);
    }
  }

  private line(encoding: 'utf-8' | 'latin1' = 'utf-8'): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('PICKLE_TRUNCATED', 'a text argument has no end of line');
    if (end - this.pos > MAX_LINE_BYTES) this.fail('PICKLE_LIMIT', `a text argument longer than ${MAX_LINE_BYTES} bytes`);
    const at = this.take(end - this.pos + 1);
    const raw = this.bytes.subarray(at, end);
    return encoding === 'latin1' ? latin1(raw) : lenientUtf8(raw);
  }

  private textFloat(text: string): number {
    const special: Record<string, number> = { inf: Infinity, '-inf': -Infinity, nan: NaN, '-nan': NaN };
    const value = special[text.trim().toLowerCase()] ?? (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text.trim()) ? Number(text) : undefined);
    if (value === undefined) this.fail('PICKLE_INVALID', `"${text}" is not a float`);
    return value!;
  }

  private lineIndex(): number {
    const text = this.line();
    if (!/^\d{1,15}$/.test(text)) this.fail('PICKLE_INVALID', `"${text}" is not a memo index`);
    return Number(text);
  }

  private long(n: number): number | bigint {
    if (n > MAX_LONG_BYTES) this.fail('PICKLE_LIMIT', `an integer of ${n} bytes, more than ${MAX_LONG_BYTES}`);
    const at = this.take(n);
    if (n === 0) return 0;
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.bytes[at + i]!);
    if (this.bytes[at + n - 1]! & 0x80) value -= 1n << BigInt(8 * n);
    return narrow(value);
  }

  private textInt(text: string, long: boolean): number | bigint | boolean {
    if (!long && text === '00') return false;
    if (!long && text === '01') return true;
    const digits = long && text.endsWith('L') ? text.slice(0, -1) : text;
    if (!/^[-+]?\d+$/.test(digits) || digits.length > MAX_LONG_BYTES) this.fail('PICKLE_INVALID', `"${text}" is not an integer`);
    return narrow(BigInt(digits));
  }

  private quotedString(text: string): string {
    const quote = text[0];
    if (text.length < 2 || (quote !== "'" && quote !== '"') || text[text.length - 1] !== quote) {
      return this.fail('PICKLE_INVALID', 'STRING argument is not quoted');
    }
    return pythonEscapes(text.slice(1, -1), (m) => this.fail('PICKLE_INVALID', m));
  }
}

function isBuildable(value: PickleValue): value is Buildable {
  return typeof value === 'object' && value !== null && typeof (value as Partial<Buildable>).setState === 'function';
}

function narrow(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** Python's hash equality for the keys state dicts use; undefined for keys compared by identity here. */
function hashKey(key: PickleValue): string | undefined {
  if (typeof key === 'string') return `s${key}`;
  if (typeof key === 'number' || typeof key === 'bigint') return `n${String(key)}`;
  if (typeof key === 'boolean') return key ? 'n1' : 'n0';
  if (key === null) return 'None';
  if (key instanceof PickleTuple) {
    const parts = key.items.map(hashKey);
    return parts.every((p) => p !== undefined) ? `t(${parts.join(',')})` : undefined;
  }
  return undefined;
}

/** Backslash escapes of Python 2 string literals (protocol 0 STRING). */
function pythonEscapes(body: string, fail: (message: string) => never): string {
  const simple: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = body[++i];
    if (next === undefined) fail('STRING ends with a backslash');
    if (next === 'x') {
      const hex = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) fail('bad \\x escape in STRING');
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else if (simple[next!] !== undefined) out += simple[next!];
    else out += '\\' + next;
  }
  return out;
}

/** Python's raw-unicode-escape: \uXXXX and \UXXXXXXXX escapes, every other byte as itself. */
function rawUnicodeEscape(text: string, fail: (message: string) => never): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, short: string | undefined, long: string | undefined) => {
    const code = parseInt(short ?? long!, 16);
    if (code > 0x10ffff) fail('a \\U escape beyond Unicode');
    return String.fromCodePoint(code);
  });
}
