import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_OPERATIONS,
  OpaqueObject,
  PickleBytes,
  PickleDict,
  PickleList,
  PickleSet,
  PickleTuple,
  unpickle,
  type PickleValue,
} from '../../extension/formats/pickle';
import { resolveTorchGlobal } from '../../extension/formats/torchPickle';
import { PickleBuilder } from '../fixtures/torchWriter';
import { formatErrorWith } from '../fixtures/formatErrors';

const options = { what: 'test.pkl', file: 'test.pkl', resolveGlobal: resolveTorchGlobal };

function load(bytes: Uint8Array): PickleValue {
  return unpickle(bytes, 0, options).value;
}

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!.map((b) => parseInt(b, 16)));
}

/** Plain JS of a pickle value, to compare whole structures. */
function plain(value: PickleValue): unknown {
  if (value instanceof PickleDict) return { dict: value.entries.map(([k, v]) => [plain(k), plain(v)]) };
  if (value instanceof PickleList) return { list: value.items.map(plain) };
  if (value instanceof PickleTuple) return { tuple: value.items.map(plain) };
  if (value instanceof PickleSet) return { [value.frozen ? 'frozenset' : 'set']: value.items.map(plain) };
  if (value instanceof PickleBytes) return { bytes: [...value.bytes] };
  return value;
}

function expectCode(run: () => unknown, code: string, message?: RegExp): void {
  assert.throws(run, formatErrorWith(code, message));
}

// pickle.dumps(obj, protocol=p) by CPython 3.11 for
// obj = {'a': [1, -2, 3.5, 'x', b'yz', None, True, False, (1, 2), 2**70, -2**70, 65535, -1, 2**31], 'b': {1, 2},
//        'c': frozenset([3]), 'é': 'ü€', 'shared': (l, l) with l = [1], 'big': bytearray(b'q')}
const PYTHON_PICKLES = [
  '286470300a56610a70310a286c70320a49310a61492d320a6146332e350a6156780a70330a61635f636f646563730a656e636f64650a70340a2856797a0a70350a566c6174696e310a70360a7470370a5270380a614e614930310a614930300a612849310a49320a7470390a614c313138303539313632303731373431313330333432344c0a614c2d313138303539313632303731373431313330333432344c0a614936353533350a61492d310a614c323134373438333634384c0a617356620a7031300a635f5f6275696c74696e5f5f0a7365740a7031310a28286c7031320a49310a6149320a61747031330a527031340a7356630a7031350a635f5f6275696c74696e5f5f0a66726f7a656e7365740a7031360a28286c7031370a49330a61747031380a527031390a7356e90a7032300a56fc5c75323061630a7032310a73567368617265640a7032320a28286c7032330a49310a616732330a747032340a73566269670a7032350a635f5f6275696c74696e5f5f0a6279746561727261790a7032360a2867340a2856710a7032370a67360a747032380a527032390a747033300a527033310a732e',
  '7d71002858010000006171015d7102284b014afeffffff47400c0000000000005801000000787103635f636f646563730a656e636f64650a7104285802000000797a710558060000006c6174696e3171067471075271084e4930310a4930300a284b014b027471094c313138303539313632303731373431313330333432344c0a4c2d313138303539313632303731373431313330333432344c0a4dffff4affffffff4c323134373438333634384c0a65580100000062710a635f5f6275696c74696e5f5f0a7365740a710b285d710c284b014b026574710d52710e580100000063710f635f5f6275696c74696e5f5f0a66726f7a656e7365740a7110285d71114b03617471125271135802000000c3a971145805000000c3bce282ac711558060000007368617265647116285d71174b0161681774711858030000006269677119635f5f6275696c74696e5f5f0a6279746561727261790a711a28680428580100000071711b680674711c52711d74711e52711f752e',
  '80027d71002858010000006171015d7102284b014afeffffff47400c0000000000005801000000787103635f636f646563730a656e636f64650a71045802000000797a710558060000006c6174696e3171068671075271084e88894b014b028671098a090000000000000000408a090000000000000000c04dffff4affffffff8a05000000800065580100000062710a635f5f6275696c74696e5f5f0a7365740a710b5d710c284b014b026585710d52710e580100000063710f635f5f6275696c74696e5f5f0a66726f7a656e7365740a71105d71114b03618571125271135802000000c3a971145805000000c3bce282ac7115580600000073686172656471165d71174b0161681786711858030000006269677119635f5f6275696c74696e5f5f0a6279746561727261790a711a6804580100000071711b680686711c52711d85711e52711f752e',
  '80037d71002858010000006171015d7102284b014afeffffff47400c00000000000058010000007871034302797a71044e88894b014b028671058a090000000000000000408a090000000000000000c04dffff4affffffff8a050000008000655801000000627106636275696c74696e730a7365740a71075d7108284b014b026585710952710a580100000063710b636275696c74696e730a66726f7a656e7365740a710c5d710d4b036185710e52710f5802000000c3a971105805000000c3bce282ac7111580600000073686172656471125d71134b0161681386711458030000006269677115636275696c74696e730a6279746561727261790a71164301717117857118527119752e',
  '800495af000000000000007d94288c0161945d94284b014afeffffff47400c0000000000008c0178944302797a944e88894b014b0286948a090000000000000000408a090000000000000000c04dffff4affffffff8a050000008000658c0162948f94284b014b02908c016394284b0391948c02c3a9948c05c3bce282ac948c06736861726564945d944b0161680d86948c03626967948c086275696c74696e73948c096279746561727261799493944301719485945294752e',
  '80059599000000000000007d94288c0161945d94284b014afeffffff47400c0000000000008c0178944302797a944e88894b014b0286948a090000000000000000408a090000000000000000c04dffff4affffffff8a050000008000658c0162948f94284b014b02908c016394284b0391948c02c3a9948c05c3bce282ac948c06736861726564945d944b0161680d86948c03626967949601000000000000007194752e',
];

test('pickles of every protocol 0–5 written by CPython read to the same values', () => {
  const shared = { list: [1] };
  const expected = {
    dict: [
      ['a', { list: [1, -2, 3.5, 'x', { bytes: [0x79, 0x7a] }, null, true, false, { tuple: [1, 2] }, 2n ** 70n, -(2n ** 70n), 65535, -1, 2 ** 31] }],
      ['b', { set: [1, 2] }],
      ['c', { frozenset: [3] }],
      ['é', 'ü€'],
      ['shared', { tuple: [shared, shared] }],
      ['big', { bytes: [0x71] }],
    ],
  };
  PYTHON_PICKLES.forEach((text, protocol) => {
    const value = load(hex(text));
    assert.deepEqual(plain(value), expected, `protocol ${protocol}`);
    // The memo makes both tuple items the same list object, as in Python.
    const pair = (value as PickleDict).get('shared') as PickleTuple;
    assert.equal(pair.items[0], pair.items[1], `protocol ${protocol}: shared reference`);
  });
});

test('a global outside the allowed set is never called: it becomes an inert object and is reported', () => {
  const bytes = new PickleBuilder().proto().global('os', 'system').mark().str('rm -rf /').tuple().op(0x52).stop();
  const result = unpickle(bytes, 0, options);
  assert.ok(result.value instanceof OpaqueObject);
  assert.equal(result.value.type.qualifiedName, 'os.system');
  assert.deepEqual(result.value.args, ['rm -rf /']);
  assert.deepEqual([...result.unsafeGlobals.keys()], ['os.system']);
  assert.equal(result.unsafeGlobals.get('os.system')!.offset, 2);
});

test('NEWOBJ, NEWOBJ_EX, BUILD, INST and OBJ on unknown classes keep arguments and state, and run nothing', () => {
  const p = new PickleBuilder().proto(4).op(0x5d); // EMPTY_LIST to collect the objects
  p.global('evil', 'A').op(0x29, 0x81).op(0x7d).str('k').int(1).op(0x73).op(0x62).op(0x61); // NEWOBJ, BUILD {'k': 1}
  p.global('evil', 'B').ints([7]).op(0x7d).op(0x92).op(0x61); // NEWOBJ_EX
  p.mark().int(5).op(0x69).raw(new TextEncoder().encode('evil\nC\n')).op(0x61); // INST
  p.mark().global('evil', 'D').int(6).op(0x6f).op(0x61); // OBJ
  const result = unpickle(p.stop(), 0, options);
  const items = (result.value as PickleList).items as OpaqueObject[];
  assert.deepEqual(items.map((o) => o.type.qualifiedName), ['evil.A', 'evil.B', 'evil.C', 'evil.D']);
  assert.deepEqual(plain(items[0]!.state), { dict: [['k', 1]] });
  assert.deepEqual(items.map((o) => o.args), [[], [7], [5], [6]]);
  assert.deepEqual([...result.unsafeGlobals.keys()].sort(), ['evil.A', 'evil.B', 'evil.C', 'evil.D']);
});

test('text opcodes of protocol 0: STRING escapes, FLOAT specials, PERSID, DUP, POP and POP_MARK', () => {
  const text = "(S'a\\'b\\x41\\n'\np0\nF-inf\nFnan\nF1e-05\n2" + '0' + "(I1\n1" + 'Pkey\nl.';
  const loaded: PickleValue[] = [];
  const value = unpickle(new TextEncoder().encode(text), 0, { ...options, persistentLoad: (pid) => (loaded.push(pid), 'loaded') }).value as PickleList;
  assert.deepEqual(loaded, ['key']);
  assert.equal(value.items[0], "a'bA\n");
  assert.equal(value.items[1], -Infinity);
  assert.ok(Number.isNaN(value.items[2] as number));
  assert.equal(value.items[3], 1e-5);
  assert.equal(value.items[4], 'loaded');
  assert.equal(value.items.length, 5);
});

// --- one malformed input per error code ---------------------------------------------------------------------------

test('PICKLE_TRUNCATED: a huge BINUNICODE length is refused before anything is allocated', () => {
  const bytes = new PickleBuilder().proto().op(0x58).u32(0xfffffff0).bytes();
  expectCode(() => load(bytes), 'PICKLE_TRUNCATED', /needs 4294967280 more bytes/);
  expectCode(() => load(new PickleBuilder().proto().op(0x8e, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f).bytes()), 'PICKLE_TRUNCATED');
  expectCode(() => load(new PickleBuilder().proto().int(1).bytes()), 'PICKLE_TRUNCATED'); // no STOP
  expectCode(() => load(new PickleBuilder().proto(4).op(0x95).raw(new Uint8Array([0xff, 0xff, 0, 0, 0, 0, 0, 0])).bytes()), 'PICKLE_TRUNCATED');
});

test('PICKLE_BAD_OPCODE: unknown opcodes, out-of-band buffers, protocols above 5', () => {
  expectCode(() => load(Uint8Array.of(0x80, 2, 0xff, 0x2e)), 'PICKLE_BAD_OPCODE', /0xff/);
  expectCode(() => load(Uint8Array.of(0x80, 5, 0x97, 0x2e)), 'PICKLE_BAD_OPCODE', /out-of-band/);
  expectCode(() => load(Uint8Array.of(0x80, 6, 0x4e, 0x2e)), 'PICKLE_BAD_OPCODE');
});

test('PICKLE_STACK_UNDERFLOW: popping an empty stack, reaching below a MARK, no MARK', () => {
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x86, 0x2e)), 'PICKLE_STACK_UNDERFLOW'); // TUPLE2 on nothing
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x4e, 0x28, 0x85, 0x2e)), 'PICKLE_STACK_UNDERFLOW'); // TUPLE1 reaching below MARK
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x5d, 0x4e, 0x65, 0x2e)), 'PICKLE_STACK_UNDERFLOW'); // APPENDS without MARK
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x2e)), 'PICKLE_STACK_UNDERFLOW'); // STOP on nothing
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x28, 0x4e, 0x75, 0x2e)), 'PICKLE_STACK_UNDERFLOW'); // SETITEMS with nothing below MARK
});

test('PICKLE_MEMO_MISSING: reading a memo slot never written', () => {
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x68, 5, 0x2e)), 'PICKLE_MEMO_MISSING', /memo entry 5/);
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x6a, 0xff, 0xff, 0xff, 0xff, 0x2e)), 'PICKLE_MEMO_MISSING');
});

test('PICKLE_LIMIT: oversized integers and operation bombs stop early', () => {
  const long = new PickleBuilder().proto().op(0x8b).u32(100_000).raw(new Uint8Array(100_000)).stop();
  expectCode(() => load(long), 'PICKLE_LIMIT', /integer of 100000 bytes/);
  // NONE, POP repeated: harmless ops, but more of them than the reader will run.
  const ops = new Uint8Array(2 + (MAX_OPERATIONS + 2) * 2);
  ops.set([0x80, 2]);
  for (let i = 2; i < ops.length; i += 2) ops.set([0x4e, 0x30], i);
  expectCode(() => load(ops), 'PICKLE_LIMIT', /operations/);
});

test('PICKLE_INVALID: wrong types for the operation, bad UTF-8, calling a non-global', () => {
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x5d, 0x4e, 0x4e, 0x73, 0x2e)), 'PICKLE_INVALID', /SETITEM/); // SETITEM on a list
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x7d, 0x4e, 0x61, 0x2e)), 'PICKLE_INVALID', /APPEND/); // APPEND on a dict
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x7d, 0x28, 0x4e, 0x75, 0x2e)), 'PICKLE_INVALID', /odd/);
  expectCode(() => load(Uint8Array.of(0x80, 2, 0x58, 2, 0, 0, 0, 0xc3, 0x28, 0x2e)), 'PICKLE_INVALID', /UTF-8/);
  expectCode(() => load(new PickleBuilder().proto().str('not callable').op(0x29, 0x52).stop()), 'PICKLE_INVALID', /not a global/);
  expectCode(() => load(new PickleBuilder().proto().global('os', 'system').int(1).op(0x52).stop()), 'PICKLE_INVALID', /not a tuple/);
  expectCode(() => load(new PickleBuilder().proto().int(3).op(0x4e, 0x62).stop()), 'PICKLE_INVALID', /BUILD/);
});
