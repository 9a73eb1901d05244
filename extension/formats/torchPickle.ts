/**
 * What PyTorch pickles mean, without running them: the globals `torch.load(weights_only=True)` accepts (tensor
 * rebuild functions, storage classes, dtypes, OrderedDict, torch.Size, torch.device, _codecs.encode) plus NumPy
 * arrays, dtypes and scalars, each mapped to a data constructor; and the walk that turns the unpickled object into
 * named tensors (dotted paths through dicts, lists and objects' state) and displayable metadata.
 */
import { setMetadataEntry, type TensorProblem } from './checkpoint';
import { numpyElementType, type NumpyElementType } from './numpy';
import {
  OpaqueObject,
  PickleBytes,
  PickleDict,
  PickleGlobal,
  PickleList,
  PickleSet,
  PickleTuple,
  type Buildable,
  type GlobalBehaviour,
  type PickleValue,
} from './pickle';

/** A torch dtype by its torch name, with our spelling when Weightscope can decode it. */
export interface TorchDType {
  readonly torchName: string;
  readonly elementBytes: number;
  /** Our dtype name; undefined for types the engine does not decode (complex, quantized, bit-packed). */
  readonly dtype: string | undefined;
  /** Spelling shown for an undecodable type. */
  readonly display: string;
}

function torchDType(torchName: string, elementBytes: number, dtype: string | undefined, display = dtype ?? torchName): TorchDType {
  return { torchName, elementBytes, dtype, display };
}

const DTYPES: readonly TorchDType[] = [
  torchDType('float64', 8, 'F64'),
  torchDType('float32', 4, 'F32'),
  torchDType('float16', 2, 'F16'),
  torchDType('bfloat16', 2, 'BF16'),
  torchDType('int64', 8, 'I64'),
  torchDType('int32', 4, 'I32'),
  torchDType('int16', 2, 'I16'),
  torchDType('int8', 1, 'I8'),
  torchDType('uint64', 8, 'U64'),
  torchDType('uint32', 4, 'U32'),
  torchDType('uint16', 2, 'U16'),
  torchDType('uint8', 1, 'U8'),
  torchDType('bool', 1, 'BOOL'),
  torchDType('float8_e4m3fn', 1, 'F8_E4M3'),
  torchDType('float8_e5m2', 1, 'F8_E5M2'),
  torchDType('float8_e4m3fnuz', 1, 'F8_E4M3FNUZ'),
  torchDType('float8_e5m2fnuz', 1, 'F8_E5M2FNUZ'),
  torchDType('float8_e8m0fnu', 1, 'F8_E8M0'),
  torchDType('complex128', 16, undefined, 'C128'),
  torchDType('complex64', 8, undefined, 'C64'),
  torchDType('complex32', 4, undefined, 'C32'),
  torchDType('qint8', 1, undefined),
  torchDType('quint8', 1, undefined),
  torchDType('qint32', 4, undefined),
  torchDType('quint4x2', 1, undefined),
  torchDType('quint2x4', 1, undefined),
  torchDType('float4_e2m1fn_x2', 1, undefined),
  torchDType('bits8', 1, undefined),
  torchDType('bits16', 2, undefined),
  torchDType('bits1x8', 1, undefined),
  torchDType('bits2x4', 1, undefined),
  torchDType('bits4x2', 1, undefined),
];
const DTYPE_BY_NAME = new Map(DTYPES.map((d) => [d.torchName, d]));
const DTYPE_ALIASES: Readonly<Record<string, string>> = {
  float: 'float32', double: 'float64', half: 'float16', long: 'int64', int: 'int32', short: 'int16',
  cfloat: 'complex64', cdouble: 'complex128', chalf: 'complex32',
};

/** The dtype of each legacy typed storage class (`torch.FloatStorage`, …); UntypedStorage holds bytes. */
const STORAGE_DTYPES: Readonly<Record<string, string>> = {
  DoubleStorage: 'float64', FloatStorage: 'float32', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8',
  BoolStorage: 'bool', ComplexFloatStorage: 'complex64', ComplexDoubleStorage: 'complex128', QInt8Storage: 'qint8',
  QUInt8Storage: 'quint8', QInt32Storage: 'qint32', QUInt4x2Storage: 'quint4x2', QUInt2x4Storage: 'quint2x4',
  UntypedStorage: 'uint8',
};

/** The torch dtype a `torch.float16`-style global names, if any. */
export function dtypeOfGlobal(value: PickleValue): TorchDType | undefined {
  if (!(value instanceof PickleGlobal) || value.module !== 'torch') return undefined;
  return DTYPE_BY_NAME.get(DTYPE_ALIASES[value.name] ?? value.name);
}

/** The dtype of a storage class global (`torch.FloatStorage`, `torch.cuda.HalfStorage`, `torch.UntypedStorage`). */
export function dtypeOfStorageClass(value: PickleValue): TorchDType | undefined {
  if (!(value instanceof PickleGlobal) || !/^torch(\.cuda|\.storage)?$/.test(value.module)) return undefined;
  const name = STORAGE_DTYPES[value.name];
  return name === undefined ? undefined : DTYPE_BY_NAME.get(name);
}

// --- values the constructors make ---------------------------------------------------------------------------------

/** A storage named by a persistent id: `key` locates its bytes; `elementOffset` is a legacy view's start. */
export class StorageRef {
  constructor(
    readonly dtype: TorchDType,
    readonly key: string,
    readonly numel: number,
    readonly elementOffset = 0,
  ) {}
}

/** A tensor view of a storage, as `_rebuild_tensor_v2` describes it; `problem` when its arguments are unusable. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef | undefined,
    readonly dtype: TorchDType | undefined,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly problem?: TensorProblem,
  ) {}
}

/** A tensor kind Weightscope recognizes but cannot show (sparse, nested, meta, wrapper subclasses). */
export class UnsupportedTensor {
  constructor(readonly kind: string) {}
}

/** `numpy.dtype(code)`; its BUILD state carries the byte order and, for structured types, field names. */
export class NumpyDType implements Buildable {
  byteOrder = '=';
  structured = false;
  constructor(readonly code: string) {}

  setState(state: PickleValue): void {
    if (!(state instanceof PickleTuple)) return;
    const [, order, , names] = state.items;
    if (typeof order === 'string') this.byteOrder = order;
    if (names !== null && names !== undefined) this.structured = true;
  }

  elementType(): NumpyElementType {
    return this.structured ? { problem: `structured NumPy dtype "${this.code}"`, display: this.code } : numpyElementType(this.code, this.byteOrder);
  }
}

/** `numpy.core.multiarray._reconstruct(ndarray, …)` filled by BUILD: shape, dtype, order and raw bytes. */
export class NumpyArray implements Buildable {
  shape: number[] = [0];
  dtype: NumpyDType | undefined;
  fortran = false;
  data: Uint8Array | undefined;
  problem: string | undefined = 'a NumPy array without state';

  setState(state: PickleValue): void {
    if (!(state instanceof PickleTuple) || (state.items.length !== 4 && state.items.length !== 5)) {
      this.problem = 'a NumPy array with an unreadable state';
      return;
    }
    const [shape, dtype, fortran, raw] = state.items.slice(state.items.length - 4);
    const dims = intList(shape);
    if (!dims || !(dtype instanceof NumpyDType)) {
      this.problem = 'a NumPy array with an unreadable shape or dtype';
      return;
    }
    this.shape = dims;
    this.dtype = dtype;
    this.fortran = fortran === true;
    this.problem = undefined;
    if (raw instanceof PickleBytes) this.data = raw.bytes;
    else if (typeof raw === 'string') this.data = encodeLatin1(raw);
    else this.problem = 'a NumPy array of Python objects';
  }
}

// --- the allowed globals -----------------------------------------------------------------------------------------

const keepsValue: GlobalBehaviour = {};
const firstArgument: GlobalBehaviour = { construct: (args) => args[0] ?? null };

const rebuildTensor = (version: 1 | 2 | 3): GlobalBehaviour => ({
  construct: (args) => {
    const [storage, offset, size, stride] = args;
    const dtypeArg = version === 3 ? dtypeOfGlobal(args[6] ?? null) : undefined;
    const dtype = version === 3 ? dtypeArg : storage instanceof StorageRef ? storage.dtype : undefined;
    const shape = intList(size);
    const strides = intList(stride);
    const bad = (message: string): TensorRef =>
      new TensorRef(storage instanceof StorageRef ? storage : undefined, dtype, 0, shape ?? [], strides ?? [], { code: 'TORCH_INVALID_TENSOR', message });
    if (!(storage instanceof StorageRef)) return bad('the tensor is not backed by a storage');
    if (!dtype) return bad('the tensor has no known dtype');
    if (!isIndex(offset)) return bad('the storage offset is not a non-negative integer');
    if (!shape || !strides) return bad('the size or stride is not a list of non-negative integers');
    if (shape.length !== strides.length) return bad(`the size has ${shape.length} dimensions but the stride ${strides.length}`);
    return new TensorRef(storage, dtype, offset as number, shape, strides);
  },
});

const quantizedTensor: GlobalBehaviour = {
  construct: (args) => {
    const built = rebuildTensor(2).construct!([args[0] ?? null, args[1] ?? null, args[2] ?? null, args[3] ?? null]) as TensorRef;
    return new TensorRef(built.storage, built.dtype, built.storageOffset, built.shape, built.strides, {
      code: 'UNSUPPORTED_DTYPE',
      message: `quantized tensor (${built.dtype?.torchName ?? 'unknown storage'}): its values need the quantizer's scale and zero point`,
    });
  },
};

/** `_rebuild_from_type_v2(func, type, args, state)`: a tensor subclass; the tensor is what `func(*args)` makes. */
const rebuildFromType: GlobalBehaviour = {
  construct: ([func, , args]) => {
    const construct = func instanceof PickleGlobal ? func.behaviour?.construct : undefined;
    if (!construct || !(args instanceof PickleTuple)) return new UnsupportedTensor('torch._tensor._rebuild_from_type_v2');
    return construct(args.items);
  },
};

const orderedDict: GlobalBehaviour = {
  construct: (args) => {
    const dict = new PickleDict();
    const items = args[0];
    if (items === undefined || items === null) return dict;
    const pairs = items instanceof PickleList || items instanceof PickleTuple ? items.items : undefined;
    if (!pairs) throw new Error('OrderedDict of something that is not a list of pairs');
    for (const pair of pairs) {
      const kv = pair instanceof PickleList || pair instanceof PickleTuple ? pair.items : [];
      if (kv.length !== 2) throw new Error('OrderedDict item that is not a (key, value) pair');
      dict.set(kv[0]!, kv[1]!);
    }
    return dict;
  },
};

const makeSet = (frozen: boolean): GlobalBehaviour => ({
  construct: ([items]) => new PickleSet(items instanceof PickleList || items instanceof PickleTuple || items instanceof PickleSet ? [...items.items] : [], frozen),
});

const codecsEncode: GlobalBehaviour = {
  construct: ([text, encoding]) => {
    if (typeof text !== 'string') throw new Error('_codecs.encode of something that is not text');
    const name = typeof encoding === 'string' ? encoding.toLowerCase().replace(/[-_]/g, '') : 'utf8';
    if (name === 'latin1' || name === 'iso88591') return new PickleBytes(encodeLatin1(text));
    if (name === 'utf8') return new PickleBytes(new TextEncoder().encode(text));
    throw new Error(`unsupported encoding "${String(encoding)}"`);
  },
};

const device: GlobalBehaviour = {
  construct: ([type, index]) => (typeof type === 'string' ? (typeof index === 'number' ? `${type}:${index}` : type) : 'device'),
};

const numpyReconstruct: GlobalBehaviour = { construct: () => new NumpyArray() };
const numpyDType: GlobalBehaviour = {
  construct: ([code]) => {
    if (typeof code !== 'string') throw new Error('numpy.dtype of something that is not a type code');
    return new NumpyDType(code);
  },
};
const numpyScalar: GlobalBehaviour = {
  construct: ([dtype, raw]) => (dtype instanceof NumpyDType && raw instanceof PickleBytes ? scalarValue(dtype, raw.bytes) : 'numpy scalar'),
};

const SAFE_GLOBALS: ReadonlyMap<string, GlobalBehaviour> = new Map<string, GlobalBehaviour>([
  ['collections.OrderedDict', orderedDict],
  ['builtins.set', makeSet(false)],
  ['builtins.frozenset', makeSet(true)],
  ['builtins.bytearray', { construct: ([value, encoding]) => (typeof value === 'string' ? codecsEncode.construct!([value, encoding ?? 'utf-8']) : value instanceof PickleBytes ? value : new PickleBytes(new Uint8Array(0))) }],
  ['builtins.complex', { construct: ([re, im]) => `complex(${String(re ?? 0)}, ${String(im ?? 0)})` }],
  ['_codecs.encode', codecsEncode],
  ['torch.Size', { construct: ([dims]) => new PickleTuple(dims instanceof PickleTuple || dims instanceof PickleList ? dims.items : []) }],
  ['torch.device', device],
  ['torch.serialization._get_layout', { construct: ([name]) => (typeof name === 'string' ? name : 'layout') }],
  ['torch._utils._rebuild_tensor', rebuildTensor(1)],
  ['torch._utils._rebuild_tensor_v2', rebuildTensor(2)],
  ['torch._utils._rebuild_tensor_v3', rebuildTensor(3)],
  ['torch._utils._rebuild_parameter', firstArgument],
  ['torch._utils._rebuild_parameter_with_state', firstArgument],
  ['torch.nn.parameter.Parameter', firstArgument],
  ['torch._tensor._rebuild_from_type_v2', rebuildFromType],
  ['torch._tensor._rebuild_from_type', rebuildFromType],
  ['torch._utils._rebuild_qtensor', quantizedTensor],
  ['torch.jit._pickle.build_intlist', firstArgument],
  ['torch.jit._pickle.build_floatlist', firstArgument],
  ['torch.jit._pickle.build_doublelist', firstArgument],
  ['torch.jit._pickle.build_boollist', firstArgument],
  ['torch.jit._pickle.build_tensorlist', firstArgument],
  ['torch.jit._pickle.build_complexlist', firstArgument],
  ['torch.jit._pickle.restore_type_tag', firstArgument],
  ['numpy.core.multiarray._reconstruct', numpyReconstruct],
  ['numpy._core.multiarray._reconstruct', numpyReconstruct],
  ['numpy.core.multiarray.scalar', numpyScalar],
  ['numpy._core.multiarray.scalar', numpyScalar],
  ['numpy.dtype', numpyDType],
  ['numpy.ndarray', keepsValue],
  ...[
    '_rebuild_sparse_tensor', '_rebuild_sparse_csr_tensor', '_rebuild_meta_tensor_no_storage', '_rebuild_wrapper_subclass',
    '_rebuild_nested_tensor', '_rebuild_device_tensor_from_numpy', '_rebuild_device_tensor_from_cpu_tensor', '_rebuild_xla_tensor',
    '_rebuild_mps_tensor',
  ].map((name): [string, GlobalBehaviour] => [`torch._utils.${name}`, { construct: () => new UnsupportedTensor(`torch._utils.${name}`) }]),
  ...['strided', 'sparse_coo', 'sparse_csr', 'sparse_csc', 'sparse_bsr', 'sparse_bsc', '_mkldnn'].map((name): [string, GlobalBehaviour] => [`torch.${name}`, keepsValue]),
]);

/** The data meaning of an allowed global, or undefined for one that would import and run code. */
export function resolveTorchGlobal(module: string, name: string): GlobalBehaviour | undefined {
  // Python 2 pickles name the builtins module as Python 3's unpickler maps it (fix_imports).
  const known = SAFE_GLOBALS.get(`${module === '__builtin__' ? 'builtins' : module}.${name}`);
  if (known) return known;
  const global = new PickleGlobal(module, name, undefined);
  if (dtypeOfGlobal(global) || dtypeOfStorageClass(global)) return keepsValue;
  return undefined;
}

// --- helpers -----------------------------------------------------------------------------------------------------

function isIndex(value: PickleValue | undefined): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A tuple or list of non-negative safe integers, or undefined. */
function intList(value: PickleValue | undefined): number[] | undefined {
  const items = value instanceof PickleTuple || value instanceof PickleList ? value.items : undefined;
  if (!items || !items.every(isIndex)) return undefined;
  return items as number[];
}

function encodeLatin1(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw new Error('latin-1 text with a character above U+00FF');
    bytes[i] = code;
  }
  return bytes;
}

/** A NumPy scalar's value for display. */
function scalarValue(dtype: NumpyDType, bytes: Uint8Array): PickleValue {
  const type = dtype.elementType();
  if (type.problem !== undefined || bytes.length !== type.elementBytes) return `numpy scalar ${dtype.code}`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = !type.bigEndian;
  switch (type.dtype) {
    case 'F64': return view.getFloat64(0, little);
    case 'F32': return view.getFloat32(0, little);
    case 'I64': return view.getBigInt64(0, little);
    case 'U64': return view.getBigUint64(0, little);
    case 'I32': return view.getInt32(0, little);
    case 'U32': return view.getUint32(0, little);
    case 'I16': return view.getInt16(0, little);
    case 'U16': return view.getUint16(0, little);
    case 'I8': return view.getInt8(0);
    case 'U8': return view.getUint8(0);
    case 'BOOL': return bytes[0] !== 0;
    default: return `numpy scalar ${dtype.code}`;
  }
}

// --- walking the object ------------------------------------------------------------------------------------------

export const MAX_NESTING = 1000;
const MAX_METADATA_ENTRIES = 1000;
const MAX_METADATA_CHARS = 1000;
const MAX_INLINE_ITEMS = 16;

export type TensorLike = TensorRef | StorageRef | NumpyArray;

export interface TreeVisitor {
  tensor(path: readonly string[], value: TensorLike): void;
  unsupported(path: readonly string[], value: UnsupportedTensor): void;
  /** An object of a class that is not allowed, at the first path where it appears. */
  opaque(path: readonly string[], value: OpaqueObject): void;
}

export interface WalkResult {
  metadata: Record<string, string>;
}

/**
 * Visits the tree in pre-order: dict items by key, list and tuple items by index, objects' state (an nn.Module's
 * `_parameters`, `_buffers` and `_modules` flattened as a state_dict names them). Each container is entered once,
 * so shared references and cycles cost nothing; tensors are reported at every path that reaches them.
 */
export function walkTree(root: PickleValue, visitor: TreeVisitor, fail: (message: string) => never): WalkResult {
  const metadata: Record<string, string> = {};
  let metadataCount = 0;
  const entered = new Set<object>();
  /** `attribute`: the value is an object's attribute, whose private ones (and `training`) are not metadata. */
  type Pending = { value: PickleValue; path: string[]; attribute?: boolean };
  const pending: Pending[] = [{ value: root, path: [] }];
  while (pending.length > 0) {
    const { value, path, attribute } = pending.pop()!;
    if (path.length > MAX_NESTING) fail(`objects nested deeper than ${MAX_NESTING} levels`);
    if (value instanceof TensorRef || value instanceof StorageRef || value instanceof NumpyArray) {
      visitor.tensor(path, value);
      continue;
    }
    if (value instanceof UnsupportedTensor) {
      visitor.unsupported(path, value);
      continue;
    }
    if (value instanceof OpaqueObject) visitor.opaque(path, value);
    const text = path.length > 0 ? display(value) : undefined;
    if (text !== undefined) {
      const last = path[path.length - 1]!;
      const quiet = attribute === true && (last.startsWith('_') || last === 'training');
      if (!quiet && metadataCount < MAX_METADATA_ENTRIES) {
        setMetadataEntry(metadata, path.join('.'), text.length > MAX_METADATA_CHARS ? `${text.slice(0, MAX_METADATA_CHARS)}…` : text);
        metadataCount++;
      }
      continue;
    }
    if (typeof value !== 'object' || value === null || entered.has(value)) continue;
    entered.add(value);
    const children: Pending[] = [];
    const addDict = (dict: PickleDict, at: string[], attributes: boolean): void => {
      for (const [key, item] of dict.entries) children.push({ value: item, path: [...at, keyPart(key)], attribute: attributes });
    };
    if (value instanceof PickleDict) addDict(value, path, false);
    else if (value instanceof PickleList || value instanceof PickleTuple || value instanceof PickleSet) {
      value.items.forEach((item, i) => children.push({ value: item, path: [...path, String(i)] }));
    } else if (value instanceof OpaqueObject) {
      value.args.forEach((item, i) => children.push({ value: item, path: [...path, String(i)] }));
      for (const part of stateParts(value.state)) {
        if (part instanceof PickleDict && isModuleState(part)) {
          for (const [key, item] of part.entries) {
            if (key === '_parameters' || key === '_buffers' || key === '_modules') {
              if (item instanceof PickleDict) addDict(item, path, false);
            } else if (!(typeof key === 'string' && key.startsWith('_'))) children.push({ value: item, path: [...path, keyPart(key)], attribute: true });
          }
        } else if (part instanceof PickleDict) addDict(part, path, true);
        else if (part !== null) children.push({ value: part, path });
      }
    }
    for (let i = children.length - 1; i >= 0; i--) pending.push(children[i]!);
  }
  return { metadata };
}

/** An object's state: a dict, or (dict, slots) as `object.__reduce_ex__` makes for classes with __slots__. */
function stateParts(state: PickleValue): PickleValue[] {
  if (state instanceof PickleTuple && state.items.length === 2 && state.items.every((s) => s === null || s instanceof PickleDict)) return [...state.items];
  return [state];
}

function isModuleState(state: PickleDict): boolean {
  return state.get('_parameters') instanceof PickleDict && state.get('_modules') instanceof PickleDict;
}

function keyPart(key: PickleValue): string {
  return typeof key === 'string' ? key : display(key) ?? '?';
}

/** A short text for a leaf worth showing as metadata, or undefined for something to walk into. */
function display(value: PickleValue): string | undefined {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return value;
  if (value instanceof PickleBytes) return `<${value.bytes.length} bytes>`;
  if (value instanceof PickleGlobal) return value.qualifiedName;
  if (value instanceof NumpyDType) return `dtype('${value.code}')`;
  if (value instanceof PickleList || value instanceof PickleTuple || value instanceof PickleSet) {
    const [open, close] = value instanceof PickleList ? ['[', ']'] : value instanceof PickleTuple ? ['(', ')'] : ['{', '}'];
    if (!value.items.every(isScalar)) return undefined;
    if (value.items.length > MAX_INLINE_ITEMS) return `${open}… ${value.items.length} items${close}`;
    const inner = value.items.map(quoted).join(', ');
    return `${open}${inner}${value instanceof PickleTuple && value.items.length === 1 ? ',' : ''}${close}`;
  }
  if (value instanceof PickleDict && value.entries.length === 0) return '{}';
  if (value instanceof OpaqueObject && value.state === null && value.args.every(isScalar) && value.args.length <= MAX_INLINE_ITEMS) {
    return `${value.type.qualifiedName}(${value.args.map(quoted).join(', ')})`;
  }
  return undefined;
}

function isScalar(value: PickleValue): boolean {
  return value === null || ['boolean', 'number', 'bigint', 'string'].includes(typeof value) || value instanceof PickleGlobal;
}

function quoted(value: PickleValue): string {
  return typeof value === 'string' ? `'${value}'` : display(value)!;
}
