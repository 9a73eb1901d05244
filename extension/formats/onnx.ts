/**
 * ONNX models (onnx/onnx.proto): every tensor a model file holds — graph initializers, tensors in Constant nodes and
 * in any node's tensor attributes — recursively through subgraphs (If/Loop/Scan bodies), function bodies and
 * training graphs. The protobuf is walked in place (protobuf.ts), never loaded: `raw_data`, packed
 * `float_data`/`double_data` and single float values are located and become plain TensorLocations into the .onnx
 * file; external data points into its own file; varint-encoded values (`int32_data`, `int64_data`, `uint64_data`,
 * `value_int(s)`) and unpacked repeated values are decoded by the workers as they stream them
 * (`TensorLocation.protobufField`).
 *
 * Tensor names:
 * - a graph's initializer keeps its name; a Constant node's tensor is named after the node's first output; another
 *   node's tensor attribute is `<node>/<attribute>` (`<node>/<attribute>.<i>` for lists), where `<node>` is the
 *   node's name, else its first output, else `<op_type>#<index in its graph>`;
 * - a subgraph's tensors are prefixed with `<node>/<attribute>/` (`<node>/<attribute>.<i>/` for graph lists), a
 *   function's with `<domain>:<name>/`, a training graph's with `training_info.<i>/<initialization|algorithm>/`;
 * - the main graph's tensors come first (initializers, then node tensors and subgraphs in node order), then
 *   functions', then training graphs'. A name already taken gets the first free suffix `#2`, `#3`, … in that order.
 *
 * Problems confined to one tensor (an unsupported type, a size that does not match the shape, external data that
 * is missing or escapes the model's folder) are per-tensor problems; a malformed protobuf is an error of the file.
 * A singular field written twice (a second `graph`, a second `raw_data`) counts once, the last one, as protobuf
 * does for scalars; protobuf would merge two messages, which no writer produces.
 */
import { dirname, join } from 'node:path';
import type { ByteSource, SourceOpener } from '../source/byteSource';
import { setMetadataEntry, type CheckpointFile, type TensorEntry, type TensorProblem } from './checkpoint';
import { bytesOf, lookupDType, type DTypeInfo } from './dtypes';
import { FormatError, type ErrorCode } from './formatError';
import type { CheckpointPart, FormatReader } from './formatReader';
import {
  decodeVarint,
  ProtoReader,
  valueCursor,
  varintToBigInt,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_LEN,
  WIRE_VARINT,
  type ProtoField,
  type ScalarEncoding,
} from './protobuf';

/** Field numbers of onnx.proto. */
const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, domain: 4, modelVersion: 5, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14, trainingInfo: 20, functions: 25 } as const;
const GRAPH = { node: 1, name: 2, initializer: 5, sparseInitializer: 15 } as const;
const NODE = { output: 2, name: 3, opType: 4, attribute: 5, domain: 7 } as const;
const ATTRIBUTE = { name: 1, f: 2, i: 3, t: 5, g: 6, floats: 7, ints: 8, tensors: 10, graphs: 11, sparseTensor: 22, sparseTensors: 23 } as const;
const TENSOR = { dims: 1, dataType: 2, segment: 3, name: 8, rawData: 9, externalData: 13, dataLocation: 14 } as const;
const SPARSE_TENSOR = { values: 1, dims: 3 } as const;
const TRAINING_INFO = { initialization: 1, algorithm: 2 } as const;
const FUNCTION = { name: 1, node: 7, domain: 10 } as const;
const ENTRY = { key: 1, value: 2 } as const; // StringStringEntryProto, OperatorSetIdProto (domain, version)
const DATA_LOCATION_EXTERNAL = 1n;

/** TensorProto.DataType → our dtype name. */
const DTYPES: Readonly<Record<number, string>> = {
  1: 'F32', 2: 'U8', 3: 'I8', 4: 'U16', 5: 'I16', 6: 'I32', 7: 'I64', 9: 'BOOL', 10: 'F16', 11: 'F64', 12: 'U32',
  13: 'U64', 16: 'BF16', 17: 'F8_E4M3', 18: 'F8_E4M3FNUZ', 19: 'F8_E5M2', 20: 'F8_E5M2FNUZ', 23: 'F4', 24: 'F8_E8M0',
  27: 'F6_E2M3', 28: 'F6_E3M2',
};
/** TensorProto.DataType values we do not analyse, by their ONNX names. */
const UNANALYSED_TYPES: Readonly<Record<number, string>> = {
  0: 'UNDEFINED', 8: 'STRING', 14: 'COMPLEX64', 15: 'COMPLEX128', 21: 'UINT4', 22: 'INT4', 25: 'UINT2', 26: 'INT2',
};

/** A repeated scalar field that holds a tensor's values. */
interface ValueField {
  readonly field: number;
  readonly name: string;
  readonly encoding: ScalarEncoding;
}

const FLOAT_DATA: ValueField = { field: 4, name: 'float_data', encoding: 'fixed32' };
const INT32_DATA: ValueField = { field: 5, name: 'int32_data', encoding: 'varint' };
const INT64_DATA: ValueField = { field: 7, name: 'int64_data', encoding: 'varint' };
const DOUBLE_DATA: ValueField = { field: 10, name: 'double_data', encoding: 'fixed64' };
const UINT64_DATA: ValueField = { field: 11, name: 'uint64_data', encoding: 'varint' };
const TYPED_DATA_FIELDS: ReadonlySet<number> = new Set([FLOAT_DATA, INT32_DATA, INT64_DATA, DOUBLE_DATA, UINT64_DATA].map((f) => f.field));

/** Where a TensorProto keeps values of `dtype` when it has no raw_data (the spec's rules for the typed fields). */
function typedField(dtype: string): ValueField | undefined {
  switch (dtype) {
    case 'F32':
      return FLOAT_DATA;
    case 'F64':
      return DOUBLE_DATA;
    case 'I64':
      return INT64_DATA;
    case 'U32':
    case 'U64':
      return UINT64_DATA;
    case 'F6_E2M3':
    case 'F6_E3M2':
      return undefined; // one 6-bit value per int32, not the packed 3-byte groups the engine decodes
    default:
      // Every other type, bit patterns for the float types; 4-bit types hold two elements per value.
      return INT32_DATA;
  }
}

function onnxTypeName(dataType: number): string {
  return UNANALYSED_TYPES[dataType] ?? `data_type ${dataType}`;
}

const MAX_TENSORS = 1_000_000;
const MAX_RANK = 64;
const MAX_NAME_BYTES = 4096;
const MAX_TEXT_BYTES = 64 << 10;
const MAX_METADATA_ENTRIES = 1000;
/** Varint-encoded or unpacked values are counted when the model is opened: up to this many encoded bytes. */
const MAX_ENCODED_VALUE_BYTES = 64 << 20;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A message's bounds in the file, and how deep it is nested. */
interface Message {
  readonly start: number;
  readonly end: number;
  readonly depth: number;
}

/** The records of one repeated scalar field seen in a message. */
interface FieldRecords {
  count: number;
  bytes: number;
  first: ProtoField;
}

/** What the first walk over a TensorProto found. */
interface TensorFields {
  readonly message: Message;
  name: string;
  dataType: number;
  segment: boolean;
  raw?: ProtoField;
  external: boolean;
  readonly externalData: { location?: string; offset?: string; length?: string };
  /** Records of the dims and typed data fields. */
  readonly records: Map<number, FieldRecords>;
}

/** Where a tensor's elements are, or why they cannot be read. */
type Placement = Pick<TensorEntry, 'file' | 'offset' | 'bytes' | 'protobufField'> | TensorProblem;

export const onnxReader: FormatReader = {
  format: 'onnx',
  extensions: ['.onnx'],
  // Protobuf has no magic number. Writers emit fields in number order, so a ModelProto starts with ir_version
  // (field 1, a small varint) followed by another ModelProto field's tag.
  sniff: (head) => head.length >= 3 && head[0] === 0x08 && head[1]! >= 1 && head[1]! <= 32 && [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72].includes(head[2]!),
  async open(path: string, opener: SourceOpener): Promise<CheckpointPart> {
    const source = await opener.open(path);
    try {
      return await new ModelReader(path, source, opener).read();
    } finally {
      await source.close();
    }
  },
};

class ModelReader {
  private readonly proto: ProtoReader;
  private readonly files: CheckpointFile[];
  private readonly externalFiles = new Map<string, CheckpointFile | TensorProblem>();
  private tensorCount = 0;

  constructor(
    private readonly path: string,
    source: ByteSource,
    private readonly opener: SourceOpener,
  ) {
    this.proto = new ProtoReader(source);
    this.files = [{ path, bytes: source.size }];
  }

  async read(): Promise<CheckpointPart> {
    const fields = new Map<number, string>();
    const opsets: string[] = [];
    const props: [string, string][] = [];
    const functionTensors: TensorEntry[] = [];
    const trainingTensors: TensorEntry[] = [];
    let graph: ProtoField | undefined;
    let trainingIndex = 0;
    const model: Message = { start: 0, end: this.proto.size, depth: 0 };
    await this.fields(model, async (f) => {
      switch (f.number) {
        case MODEL.irVersion:
        case MODEL.modelVersion:
          if (f.wire === WIRE_VARINT) fields.set(f.number, BigInt.asIntN(64, f.value).toString());
          break;
        case MODEL.producerName:
        case MODEL.producerVersion:
        case MODEL.domain:
        case MODEL.docString:
          fields.set(f.number, await this.proto.text(f, MAX_TEXT_BYTES));
          break;
        case MODEL.graph:
          if (f.wire === WIRE_LEN) graph = f; // a singular field: the last one counts
          break;
        case MODEL.opsetImport:
          if (f.wire === WIRE_LEN && opsets.length < MAX_METADATA_ENTRIES) opsets.push(await this.opset(this.child(f, model)));
          break;
        case MODEL.metadataProps:
          if (f.wire === WIRE_LEN && props.length < MAX_METADATA_ENTRIES) props.push(await this.entry(this.child(f, model)));
          break;
        case MODEL.trainingInfo:
          if (f.wire === WIRE_LEN) append(trainingTensors, await this.trainingInfo(this.child(f, model), trainingIndex++));
          break;
        case MODEL.functions:
          if (f.wire === WIRE_LEN) append(functionTensors, await this.function(this.child(f, model)));
          break;
      }
    });
    if (!graph) throw this.proto.error('INVALID_MODEL', 'the file holds no graph (ModelProto field 7): it is not an ONNX model');
    const main = await this.graph(this.child(graph, model), '');

    const metadata: Record<string, string> = {};
    const put = (key: string, value: string | undefined): void => {
      if (value !== undefined && value !== '') setMetadataEntry(metadata, key, value);
    };
    put('ir_version', fields.get(MODEL.irVersion));
    put('opset_import', opsets.join(', '));
    put('producer_name', fields.get(MODEL.producerName));
    put('producer_version', fields.get(MODEL.producerVersion));
    put('domain', fields.get(MODEL.domain));
    put('model_version', fields.get(MODEL.modelVersion));
    put('doc_string', fields.get(MODEL.docString));
    put('graph_name', main.name);
    for (const [key, value] of props) put(Object.hasOwn(metadata, key) ? `metadata_props.${key}` : key, value);

    const tensors = uniqueNames([...main.tensors, ...functionTensors, ...trainingTensors]);
    return { files: this.files, metadata, tensors };
  }

  private fields(message: Message, visit: (field: ProtoField) => void | Promise<void>): Promise<void> {
    return this.proto.forEachField(message.start, message.end, message.depth, visit);
  }

  private child(field: ProtoField, parent: Message): Message {
    return { start: field.offset, end: field.offset + field.length, depth: parent.depth + 1 };
  }

  /** An OperatorSetIdProto as "domain:version" ("ai.onnx" for the default domain). */
  private async opset(message: Message): Promise<string> {
    let domain = '';
    let version = '';
    await this.fields(message, async (f) => {
      if (f.number === ENTRY.key) domain = await this.proto.text(f, MAX_NAME_BYTES);
      else if (f.number === ENTRY.value && f.wire === WIRE_VARINT) version = BigInt.asIntN(64, f.value).toString();
    });
    return `${domain || 'ai.onnx'}:${version}`;
  }

  /** A StringStringEntryProto. */
  private async entry(message: Message): Promise<[string, string]> {
    let key = '';
    let value = '';
    await this.fields(message, async (f) => {
      if (f.number === ENTRY.key) key = await this.proto.text(f, MAX_NAME_BYTES);
      else if (f.number === ENTRY.value) value = await this.proto.text(f, MAX_TEXT_BYTES);
    });
    return [key, value];
  }

  /** A graph's tensors: its initializers in file order, then those of its nodes (and their subgraphs) in node order. */
  private async graph(message: Message, prefix: string): Promise<{ name: string; tensors: TensorEntry[] }> {
    let name = '';
    const initializers: TensorEntry[] = [];
    const held: TensorEntry[] = [];
    let nodeIndex = 0;
    await this.fields(message, async (f) => {
      if (f.number === GRAPH.name) name = await this.proto.text(f, MAX_NAME_BYTES);
      if (f.wire !== WIRE_LEN) return;
      if (f.number === GRAPH.initializer) {
        const fields = await this.tensorFields(this.child(f, message));
        initializers.push(await this.tensor(fields, prefix + (fields.name || `initializer#${initializers.length}`)));
      } else if (f.number === GRAPH.sparseInitializer) {
        initializers.push(await this.sparseTensor(this.child(f, message), (valuesName) => prefix + (valuesName || `initializer#${initializers.length}`)));
      } else if (f.number === GRAPH.node) {
        append(held, await this.node(this.child(f, message), prefix, nodeIndex++));
      }
    });
    return { name, tensors: [...initializers, ...held] };
  }

  private async node(message: Message, prefix: string, index: number): Promise<TensorEntry[]> {
    let name = '';
    let opType = '';
    let domain = '';
    let output: string | undefined;
    await this.fields(message, async (f) => {
      if (f.number === NODE.name) name = await this.proto.text(f, MAX_NAME_BYTES);
      else if (f.number === NODE.opType) opType = await this.proto.text(f, MAX_NAME_BYTES);
      else if (f.number === NODE.domain) domain = await this.proto.text(f, MAX_NAME_BYTES);
      else if (f.number === NODE.output && output === undefined) output = await this.proto.text(f, MAX_NAME_BYTES);
    });
    const label = name || output || `${opType}#${index}`;
    const constantName = (domain === '' || domain === 'ai.onnx') && opType === 'Constant' ? prefix + (output || label) : undefined;
    const tensors: TensorEntry[] = [];
    await this.fields(message, async (f) => {
      if (f.number === NODE.attribute && f.wire === WIRE_LEN) append(tensors, await this.attribute(this.child(f, message), `${prefix}${label}/`, constantName));
    });
    return tensors;
  }

  /**
   * The tensors of one attribute of a node: a Constant's value (any of value, value_float(s), value_int(s)), or any
   * node's tensor, tensor list and subgraphs. `nodePath` is the node's name with the prefix and a trailing "/".
   */
  private async attribute(message: Message, nodePath: string, constantName: string | undefined): Promise<TensorEntry[]> {
    let name = '';
    let t: ProtoField | undefined;
    let g: ProtoField | undefined;
    let sparse: ProtoField | undefined;
    let lists = false;
    const scalars = new Map<number, FieldRecords>();
    await this.fields(message, async (f) => {
      switch (f.number) {
        case ATTRIBUTE.name:
          name = await this.proto.text(f, MAX_NAME_BYTES);
          break;
        case ATTRIBUTE.t:
          if (f.wire === WIRE_LEN) t = f;
          break;
        case ATTRIBUTE.g:
          if (f.wire === WIRE_LEN) g = f;
          break;
        case ATTRIBUTE.sparseTensor:
          if (f.wire === WIRE_LEN) sparse = f;
          break;
        case ATTRIBUTE.tensors:
        case ATTRIBUTE.graphs:
        case ATTRIBUTE.sparseTensors:
          lists = true;
          break;
        case ATTRIBUTE.f:
        case ATTRIBUTE.i:
        case ATTRIBUTE.floats:
        case ATTRIBUTE.ints:
          if (constantName !== undefined) noteRecord(scalars, f);
          break;
      }
    });

    if (constantName !== undefined) return this.constantValue(message, name, constantName, { t, sparse, scalars });

    const tensors: TensorEntry[] = [];
    const path = nodePath + name;
    if (t) tensors.push(await this.tensor(await this.tensorFields(this.child(t, message)), path));
    if (sparse) tensors.push(await this.sparseTensor(this.child(sparse, message), () => path));
    if (g) append(tensors, (await this.graph(this.child(g, message), `${path}/`)).tensors);
    if (!lists) return tensors;
    const index = { tensors: 0, graphs: 0, sparse: 0 };
    await this.fields(message, async (f) => {
      if (f.wire !== WIRE_LEN) return;
      if (f.number === ATTRIBUTE.tensors) tensors.push(await this.tensor(await this.tensorFields(this.child(f, message)), `${path}.${index.tensors++}`));
      else if (f.number === ATTRIBUTE.sparseTensors) tensors.push(await this.sparseTensor(this.child(f, message), () => `${path}.${index.sparse++}`));
      else if (f.number === ATTRIBUTE.graphs) append(tensors, (await this.graph(this.child(f, message), `${path}.${index.graphs++}/`)).tensors);
    });
    return tensors;
  }

  private async constantValue(
    message: Message,
    attribute: string,
    name: string,
    found: { t?: ProtoField; sparse?: ProtoField; scalars: Map<number, FieldRecords> },
  ): Promise<TensorEntry[]> {
    const values = (field: ValueField, dtype: string, shape?: readonly number[]): Promise<TensorEntry> => {
      this.countTensor();
      const info = lookupDType(dtype)!;
      const expected = shape && { shape, bytes: info.groupBytes }; // the scalar attributes hold one value
      return this.fieldValues(name, message, field, info, expected, found.scalars.get(field.field));
    };
    switch (attribute) {
      case 'value':
        return found.t ? [await this.tensor(await this.tensorFields(this.child(found.t, message)), name)] : [];
      case 'sparse_value':
        return found.sparse ? [await this.sparseTensor(this.child(found.sparse, message), () => name)] : [];
      case 'value_float':
        return [await values({ field: ATTRIBUTE.f, name: 'value_float', encoding: 'fixed32' }, 'F32', [])];
      case 'value_floats':
        return [await values({ field: ATTRIBUTE.floats, name: 'value_floats', encoding: 'fixed32' }, 'F32')];
      case 'value_int':
        return [await values({ field: ATTRIBUTE.i, name: 'value_int', encoding: 'varint' }, 'I64', [])];
      case 'value_ints':
        return [await values({ field: ATTRIBUTE.ints, name: 'value_ints', encoding: 'varint' }, 'I64')];
      case 'value_string':
      case 'value_strings':
        this.countTensor();
        return [this.problemEntry(name, 'STRING', [], { code: 'UNSUPPORTED_DTYPE', message: 'string constants are not analysed' }, message)];
      default:
        return [];
    }
  }

  /** The first walk over a TensorProto: everything but its dimensions, which `tensor` reads. */
  private async tensorFields(message: Message): Promise<TensorFields> {
    const fields: TensorFields = { message, name: '', dataType: 0, segment: false, external: false, externalData: {}, records: new Map() };
    await this.fields(message, async (f) => {
      switch (f.number) {
        case TENSOR.dataType:
          if (f.wire === WIRE_VARINT) fields.dataType = f.value > 0x7fffffffn ? -1 : Number(f.value);
          break;
        case TENSOR.segment:
          fields.segment = true;
          break;
        case TENSOR.name:
          fields.name = await this.proto.text(f, MAX_NAME_BYTES);
          break;
        case TENSOR.rawData:
          if (f.wire === WIRE_LEN) fields.raw = f;
          break;
        case TENSOR.externalData:
          if (f.wire === WIRE_LEN) {
            const [key, value] = await this.entry(this.child(f, message));
            if (key === 'location' || key === 'offset' || key === 'length') fields.externalData[key] = value;
          }
          break;
        case TENSOR.dataLocation:
          if (f.wire === WIRE_VARINT) fields.external = f.value === DATA_LOCATION_EXTERNAL;
          break;
        default:
          if (f.number === TENSOR.dims || TYPED_DATA_FIELDS.has(f.number)) noteRecord(fields.records, f);
      }
    });
    return fields;
  }

  /** A tensor entry from a TensorProto: its dtype, shape and where its elements are. */
  private async tensor(fields: TensorFields, name: string): Promise<TensorEntry> {
    this.countTensor();
    const { message } = fields;
    const onnxType = onnxTypeName(fields.dataType);
    const dtype = DTYPES[fields.dataType];
    const dims = fields.records.has(TENSOR.dims) ? await this.dims(message, TENSOR.dims) : [];
    if (typeof dims === 'string') return this.problemEntry(name, dtype ?? onnxType, [], { code: 'INVALID_SHAPE', message: dims }, message);
    const shape = dims.map(Number);
    const fail = (code: ErrorCode, text: string): TensorEntry => this.problemEntry(name, dtype ?? onnxType, shape, { code, message: text }, message);
    if (!dtype) return fail('UNSUPPORTED_DTYPE', `${onnxType} tensors are not analysed`);
    const info = lookupDType(dtype)!;
    const elements = dims.reduce((n, d) => n * d, 1n);
    const bytes = bytesOf(info, elements);
    if (bytes === undefined) {
      return fail('UNSUPPORTED_LAYOUT', `${elements} ${dtype} elements do not fill whole ${info.groupBytes}-byte groups (ONNX pads the last one)`);
    }
    if (bytes > MAX_SAFE) return fail('SIZE_OVERFLOW', `shape [${shape.join(', ')}] of ${dtype} is too large to address`);
    if (fields.segment) return fail('UNSUPPORTED_LAYOUT', 'segmented tensors (TensorProto.segment) are not supported');

    let placement: Placement;
    if (fields.external) placement = await this.externalPlacement(fields, Number(bytes));
    else if (fields.raw) {
      placement =
        fields.raw.length === Number(bytes)
          ? { file: this.path, offset: fields.raw.offset, bytes: fields.raw.length }
          : { code: 'SIZE_MISMATCH', message: `shape [${shape.join(', ')}] of ${dtype} needs ${bytes} bytes but raw_data holds ${fields.raw.length}` };
    } else {
      const typed = typedField(dtype);
      if (!typed) return fail('UNSUPPORTED_LAYOUT', `${dtype} values outside raw_data are not supported`);
      return this.fieldValues(name, message, typed, info, { shape, bytes: Number(bytes) }, fields.records.get(typed.field));
    }
    return 'code' in placement ? fail(placement.code, placement.message) : { name, dtype, shape, ...placement };
  }

  /**
   * A tensor whose elements are the values of a repeated scalar field of `message`: one contiguous run of
   * fixed-width values is read in place; anything else (varints, unpacked values) is decoded by the workers. Without
   * `expected`, the tensor is the 1-D list of the values found.
   */
  private async fieldValues(
    name: string,
    message: Message,
    values: ValueField,
    info: DTypeInfo,
    expected: { shape: readonly number[]; bytes: number } | undefined,
    records: FieldRecords | undefined,
  ): Promise<TensorEntry> {
    const size = info.groupBytes; // one value per element group
    const fail = (code: ErrorCode, text: string): TensorEntry => this.problemEntry(name, info.name, expected?.shape ?? [], { code, message: text }, message);
    let placement: Pick<TensorEntry, 'file' | 'offset' | 'bytes' | 'protobufField'> = { file: this.path, offset: message.start, bytes: 0 };
    const singleWire = values.encoding === 'fixed32' ? WIRE_FIXED32 : WIRE_FIXED64;
    if (records && values.encoding !== 'varint' && records.count === 1 && (records.first.wire === WIRE_LEN || records.first.wire === singleWire)) {
      const run = records.first;
      if (run.length % size !== 0) return fail('SIZE_MISMATCH', `${values.name} holds ${run.length} bytes, not whole ${size}-byte values`);
      placement = { file: this.path, offset: run.offset, bytes: run.length };
    } else if (records) {
      if (records.bytes > MAX_ENCODED_VALUE_BYTES) {
        return fail('UNSUPPORTED_LAYOUT', `${values.name} holds ${records.bytes} bytes of varint-encoded or unpacked values; at most ${MAX_ENCODED_VALUE_BYTES} are read`);
      }
      let count: number;
      try {
        count = await this.proto.nextValues(valueCursor(message.start, message.end, values.field, values.encoding), Infinity, () => {});
      } catch (error) {
        // The message's fields were walked already: what fails now is inside this tensor's packed values.
        if (error instanceof FormatError) return fail(error.code, `${values.name}: ${error.message}`);
        throw error;
      }
      placement = {
        file: this.path,
        offset: message.start,
        bytes: count * size,
        protobufField: { messageBytes: message.end - message.start, field: values.field, encoding: values.encoding },
      };
    }
    if (!expected) return { name, dtype: info.name, shape: [placement.bytes / size], ...placement };
    if (placement.bytes !== expected.bytes) {
      return fail('SIZE_MISMATCH', `shape [${expected.shape.join(', ')}] of ${info.name} needs ${expected.bytes / size} values but ${values.name} holds ${placement.bytes / size}`);
    }
    return { name, dtype: info.name, shape: expected.shape, ...placement };
  }

  /** Where an external tensor's bytes are: `location` relative to the model's folder, never outside it. */
  private async externalPlacement(fields: TensorFields, bytes: number): Promise<Placement> {
    const { location, offset: offsetText = '0', length: lengthText } = fields.externalData;
    if (location === undefined || location === '') {
      return { code: 'INVALID_EXTERNAL_DATA', message: 'data_location is EXTERNAL but external_data has no "location"' };
    }
    const unsafe = unsafePath(location);
    if (unsafe) return { code: 'UNSAFE_EXTERNAL_PATH', message: `external data location "${location}" ${unsafe}: only files in the model's folder or below are read` };
    const offset = parseCount(offsetText);
    const length = lengthText === undefined ? undefined : parseCount(lengthText);
    if (offset === undefined) return { code: 'INVALID_EXTERNAL_DATA', message: `external data offset "${offsetText}" is not a byte count` };
    if (length === undefined && lengthText !== undefined) return { code: 'INVALID_EXTERNAL_DATA', message: `external data length "${lengthText}" is not a byte count` };
    const file = await this.externalFile(location);
    if ('code' in file) return file;
    const outOfRange = (what: string): TensorProblem => ({ code: 'EXTERNAL_DATA_OUT_OF_RANGE', message: `${what} beyond the end of "${location}" (${file.bytes} bytes)` });
    if (offset > file.bytes) return outOfRange(`offset ${offset} is`);
    const span = length ?? file.bytes - offset;
    if (offset + span > file.bytes) return outOfRange(`bytes ${offset} to ${offset + span} lie`);
    if (span !== bytes) return { code: 'SIZE_MISMATCH', message: `the tensor needs ${bytes} bytes but its external data in "${location}" spans ${span}` };
    return { file: file.path, offset, bytes };
  }

  /** An external data file's path and size, looked up once per location. */
  private async externalFile(location: string): Promise<CheckpointFile | TensorProblem> {
    let known = this.externalFiles.get(location);
    if (!known) {
      const path = join(dirname(this.path), location);
      known = await this.sizeOf(path, location);
      this.externalFiles.set(location, known);
      if (!('code' in known)) this.files.push(known);
    }
    return known;
  }

  private async sizeOf(path: string, location: string): Promise<CheckpointFile | TensorProblem> {
    const missing = (why: string): TensorProblem => ({ code: 'MISSING_EXTERNAL_DATA', message: `external data file "${location}" ${why}` });
    if (!(await this.opener.exists(path))) return missing('does not exist beside the model');
    try {
      const source = await this.opener.open(path);
      await source.close();
      return { path, bytes: source.size };
    } catch (error) {
      return missing(`cannot be opened: ${(error as Error).message}`);
    }
  }

  /** A SparseTensorProto: listed with its dense shape, but not analysed. */
  private async sparseTensor(message: Message, nameOf: (valuesName: string) => string): Promise<TensorEntry> {
    this.countTensor();
    let values: TensorFields | undefined;
    await this.fields(message, async (f) => {
      if (f.number === SPARSE_TENSOR.values && f.wire === WIRE_LEN) values = await this.tensorFields(this.child(f, message));
    });
    const dims = await this.dims(message, SPARSE_TENSOR.dims);
    const dataType = values?.dataType ?? 0;
    const dtype = DTYPES[dataType] ?? onnxTypeName(dataType);
    const shape = typeof dims === 'string' ? [] : dims.map(Number);
    return this.problemEntry(nameOf(values?.name ?? ''), dtype, shape, { code: 'UNSUPPORTED_LAYOUT', message: 'sparse tensors are not analysed' }, message);
  }

  /** Dimensions (repeated int64, packed or not), or why they are invalid. */
  private async dims(message: Message, field: number): Promise<bigint[] | string> {
    const dims: bigint[] = [];
    const cursor = valueCursor(message.start, message.end, field, 'varint');
    await this.proto.nextValues(cursor, MAX_RANK + 1, (bytes, at, length) => {
      dims.push(BigInt.asIntN(64, varintToBigInt(decodeVarint(bytes, at, at + length))));
    });
    if (dims.length > MAX_RANK) return `more than ${MAX_RANK} dimensions`;
    const bad = dims.find((d) => d < 0n || d > MAX_SAFE);
    if (bad !== undefined) return `dimension ${bad} is ${bad < 0n ? 'negative' : 'beyond 2^53 - 1'}`;
    return dims;
  }

  private async function(message: Message): Promise<TensorEntry[]> {
    let name = '';
    let domain = '';
    await this.fields(message, async (f) => {
      if (f.number === FUNCTION.name) name = await this.proto.text(f, MAX_NAME_BYTES);
      else if (f.number === FUNCTION.domain) domain = await this.proto.text(f, MAX_NAME_BYTES);
    });
    const tensors: TensorEntry[] = [];
    let index = 0;
    await this.fields(message, async (f) => {
      if (f.number === FUNCTION.node && f.wire === WIRE_LEN) append(tensors, await this.node(this.child(f, message), `${domain}:${name}/`, index++));
    });
    return tensors;
  }

  private async trainingInfo(message: Message, index: number): Promise<TensorEntry[]> {
    const tensors: TensorEntry[] = [];
    await this.fields(message, async (f) => {
      const part = f.number === TRAINING_INFO.initialization ? 'initialization' : f.number === TRAINING_INFO.algorithm ? 'algorithm' : undefined;
      if (part && f.wire === WIRE_LEN) append(tensors, (await this.graph(this.child(f, message), `training_info.${index}/${part}/`)).tensors);
    });
    return tensors;
  }

  /** Counts one more tensor against MAX_TENSORS, before its entry is made. */
  private countTensor(): void {
    if (++this.tensorCount > MAX_TENSORS) throw this.proto.error('TOO_MANY_TENSORS', `the model holds more than ${MAX_TENSORS} tensors`);
  }

  /** A tensor entry that cannot be analysed. */
  private problemEntry(name: string, dtype: string, shape: readonly number[], problem: TensorProblem, message: Message): TensorEntry {
    return { name, dtype, shape, file: this.path, offset: message.start, bytes: 0, problem };
  }
}

/** Notes one record of a repeated scalar field: how many there are, their payload bytes, and the first. */
function noteRecord(records: Map<number, FieldRecords>, field: ProtoField): void {
  const known = records.get(field.number);
  if (known) {
    known.count++;
    known.bytes += field.length;
  } else records.set(field.number, { count: 1, bytes: field.length, first: field });
}

/** Appends without spreading, so a long list cannot overflow the stack. */
function append<T>(target: T[], items: readonly T[]): void {
  for (const item of items) target.push(item);
}

/** Why an external data location is not a path inside the model's folder, or undefined when it is. */
function unsafePath(location: string): string | undefined {
  if (location.includes('\0')) return 'contains a NUL character';
  if (location.startsWith('/') || location.startsWith('\\') || /^[A-Za-z]:/.test(location)) return 'is an absolute path';
  if (location.split(/[\\/]/).includes('..')) return 'climbs out of its folder with ".."';
  if (location.includes('\\')) return 'contains a backslash (ONNX locations are POSIX paths)';
  return undefined;
}

/** A non-negative decimal byte count of at most 2^53 - 1, or undefined. */
function parseCount(text: string): number | undefined {
  return /^[0-9]{1,16}$/.test(text) && Number(text) <= Number.MAX_SAFE_INTEGER ? Number(text) : undefined;
}

/** Makes names unique in order: a name already taken gets the first free suffix "#2", "#3", … */
function uniqueNames(tensors: readonly TensorEntry[]): TensorEntry[] {
  const taken = new Set<string>();
  const nextSuffix = new Map<string, number>();
  return tensors.map((tensor) => {
    let name = tensor.name;
    if (taken.has(name)) {
      let k = nextSuffix.get(tensor.name) ?? 2;
      while (taken.has(`${tensor.name}#${k}`)) k++;
      nextSuffix.set(tensor.name, k + 1);
      name = `${tensor.name}#${k}`;
    }
    taken.add(name);
    return name === tensor.name ? tensor : { ...tensor, name };
  });
}
