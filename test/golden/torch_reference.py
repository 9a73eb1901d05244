#!/usr/bin/env python3
"""Independent reference for `weightscope stats --json` on PyTorch and NumPy files, and the fixtures its tests use.

    torch_reference.py stats FILE          JSON in the CLI's shape: tensors read with Python's own pickle module
    torch_reference.py make-fixtures DIR   writes .pt / .pth / .npz / .npy files without torch

Reading never executes anything from a file: the Unpickler's find_class hands out stub constructors for the
globals torch.load(weights_only=True) allows and an inert stub class for every other global (nothing is imported);
persistent_load returns storage descriptors whose bytes come from zipfile (or the legacy stream); views are applied
with numpy.lib.stride_tricks. Values are decoded and summarized by reference.py's float64 code.
"""
import io
import json
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import as_strided

sys.path.insert(0, str(Path(__file__).parent))
from reference import decode, stats  # noqa: E402

# torch dtype name -> (our dtype or None when undecodable, element bytes, display name)
TORCH_DTYPES = {
    "float64": ("F64", 8), "float32": ("F32", 4), "float16": ("F16", 2), "bfloat16": ("BF16", 2),
    "int64": ("I64", 8), "int32": ("I32", 4), "int16": ("I16", 2), "int8": ("I8", 1), "uint64": ("U64", 8),
    "uint32": ("U32", 4), "uint16": ("U16", 2), "uint8": ("U8", 1), "bool": ("BOOL", 1),
    "float8_e4m3fn": ("F8_E4M3", 1), "float8_e5m2": ("F8_E5M2", 1), "float8_e4m3fnuz": ("F8_E4M3FNUZ", 1),
    "float8_e5m2fnuz": ("F8_E5M2FNUZ", 1), "float8_e8m0fnu": ("F8_E8M0", 1),
    "complex128": ("C128", 16), "complex64": ("C64", 8), "complex32": ("C32", 4), "qint8": ("qint8", 1),
    "quint8": ("quint8", 1), "qint32": ("qint32", 4),
}
DECODABLE = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL", "F8_E4M3",
             "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0"}
ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
           "short": "int16", "cfloat": "complex64", "cdouble": "complex128"}
STORAGES = {"DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
            "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16",
            "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool", "ComplexFloatStorage": "complex64",
            "ComplexDoubleStorage": "complex128", "QInt8Storage": "qint8", "QUInt8Storage": "quint8",
            "QInt32Storage": "qint32", "UntypedStorage": "uint8"}
NUMPY_CODES = {"f2": "F16", "f4": "F32", "f8": "F64", "i1": "I8", "i2": "I16", "i4": "I32", "i8": "I64", "u1": "U8",
               "u2": "U16", "u4": "U32", "u8": "U64", "b1": "BOOL"}


# --- stubs the unpickler hands out instead of importing ----------------------------------------------------------

class DType:
    def __init__(self, name):
        self.name = name


class StorageClass:
    def __init__(self, dtype):
        self.dtype = dtype


class Storage:
    def __init__(self, dtype, key, numel, element_offset=0):
        self.dtype, self.key, self.numel, self.element_offset = dtype, key, numel, element_offset


class Tensor:
    def __init__(self, storage, offset, shape, stride, dtype, problem=None):
        self.storage, self.offset, self.shape, self.stride, self.dtype, self.problem = storage, offset, shape, stride, dtype, problem


class NpDType:
    def __init__(self, code, *_):
        self.code, self.order, self.structured = code, "=", False

    def __setstate__(self, state):
        self.order = state[1]
        self.structured = state[3] is not None


class NpArray:
    def __init__(self, *_):
        self.state = None

    def __setstate__(self, state):
        self.state = state


class Unsupported:
    pass


class Attributes(OrderedDict):
    """An OrderedDict that takes BUILD state (state_dict's _metadata) as attributes, like the real one."""


def opaque_class(module, name):
    class Opaque:
        qualified = f"{module}.{name}"

        def __new__(cls, *args, **kwargs):
            obj = object.__new__(cls)
            obj.args, obj.state = args, None
            return obj

        def __init__(self, *args, **kwargs):
            pass

        def __setstate__(self, state):
            self.state = state

    return Opaque


def rebuild(version):
    def build(storage, offset, size, stride, *rest):
        dtype = dtype_name(rest[2]) if version == 3 else getattr(storage, "dtype", None)
        ints = lambda v: isinstance(v, (tuple, list)) and all(isinstance(d, int) and d >= 0 for d in v)
        if not isinstance(storage, Storage) or dtype is None or not ints(size) or not ints(stride) or len(size) != len(stride):
            return Tensor(None, 0, list(size) if ints(size) else [], [], dtype, "TORCH_INVALID_TENSOR")
        return Tensor(storage, offset, list(size), list(stride), dtype)
    return build


def dtype_name(value):
    return ALIASES.get(value.name, value.name) if isinstance(value, DType) else None


def from_type(func, _type, args, _state):
    return func(*args)


SAFE = {
    "collections.OrderedDict": Attributes,
    "torch._utils._rebuild_tensor": rebuild(1),
    "torch._utils._rebuild_tensor_v2": rebuild(2),
    "torch._utils._rebuild_tensor_v3": rebuild(3),
    "torch._utils._rebuild_parameter": lambda data, *_: data,
    "torch._utils._rebuild_parameter_with_state": lambda data, *_: data,
    "torch.nn.parameter.Parameter": lambda data, *_: data,
    "torch._tensor._rebuild_from_type_v2": from_type,
    "torch.Size": tuple,
    "torch.device": lambda kind, index=None: kind if index is None else f"{kind}:{index}",
    "_codecs.encode": lambda text, encoding="utf-8": text.encode(encoding),
    "numpy.core.multiarray._reconstruct": NpArray,
    "numpy._core.multiarray._reconstruct": NpArray,
    "numpy.ndarray": NpArray,
    "numpy.dtype": NpDType,
    "numpy.core.multiarray.scalar": lambda dtype, raw: raw,
    "numpy._core.multiarray.scalar": lambda dtype, raw: raw,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
    "torch.jit._pickle.build_intlist": lambda x: x,
    "torch.jit._pickle.build_floatlist": lambda x: x,
    "torch.jit._pickle.build_boollist": lambda x: x,
    "torch.jit._pickle.build_tensorlist": lambda x: x,
    "torch.jit._pickle.restore_type_tag": lambda x, _t: x,
}
for _name in ("_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass",
              "_rebuild_nested_tensor", "_rebuild_device_tensor_from_numpy"):
    SAFE[f"torch._utils.{_name}"] = lambda *_: Unsupported()


class StubUnpickler(pickle.Unpickler):
    def __init__(self, file, persistent=None):
        super().__init__(file, encoding="utf-8")
        self.persistent = persistent

    def find_class(self, module, name):
        key = f"{module}.{name}"
        if key in SAFE:
            return SAFE[key]
        if module in ("torch", "torch.cuda", "torch.storage") and name in STORAGES:
            return StorageClass(STORAGES[name])
        if module == "torch" and ALIASES.get(name, name) in TORCH_DTYPES:
            return DType(name)
        return opaque_class(module, name)  # refused: never imported, never run

    def persistent_load(self, pid):
        if self.persistent is None:
            raise pickle.UnpicklingError("unexpected persistent id")
        return self.persistent(pid)


def storage_loader(legacy):
    roots = {}

    def load(pid):
        if legacy and pid[0] == "module":
            return pid[1]
        kind, storage_class, key, _location, numel = pid[:5]
        assert kind == "storage"
        key = str(key)
        root = roots.setdefault(key, Storage(storage_class.dtype, key, numel))
        view = pid[5] if legacy and len(pid) > 5 else None
        if view is None:
            return root
        _view_key, offset, size = view
        return Storage(root.dtype, key, size, offset)

    return load, roots


# --- walking the object, as the reader names tensors -------------------------------------------------------------

def key_part(key):
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return str(key)
    if key is None:
        return "None"
    return str(key)


def walk(root):
    """Pre-order (path, value) of every tensor-like leaf; containers entered once."""
    out, entered = [], set()
    stack = [(root, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, (Tensor, Storage, NpArray)):
            out.append((path, value))
            continue
        if isinstance(value, (str, bytes, int, float, bool, type(None), Unsupported, DType, StorageClass, NpDType, type)):
            continue
        if id(value) in entered:
            continue
        entered.add(id(value))
        children = []
        if isinstance(value, dict):
            children = [(v, path + [key_part(k)]) for k, v in value.items()]
        elif isinstance(value, (list, tuple, set, frozenset)):
            children = [(v, path + [str(i)]) for i, v in enumerate(value)]
        elif hasattr(value, "qualified"):
            children = [(v, path + [str(i)]) for i, v in enumerate(value.args)]
            state = value.state
            parts = list(state) if isinstance(state, tuple) and len(state) == 2 and all(s is None or isinstance(s, dict) for s in state) else [state]
            for part in parts:
                if isinstance(part, dict) and isinstance(part.get("_parameters"), dict) and isinstance(part.get("_modules"), dict):
                    for k, v in part.items():
                        if k in ("_parameters", "_buffers", "_modules"):
                            if isinstance(v, dict):
                                children += [(vv, path + [key_part(kk)]) for kk, vv in v.items()]
                        elif not (isinstance(k, str) and k.startswith("_")):
                            children.append((v, path + [key_part(k)]))
                elif isinstance(part, dict):
                    children += [(v, path + [key_part(k)]) for k, v in part.items()]
                elif part is not None:
                    children.append((part, path))
        stack.extend(reversed(children))
    return out


# --- values ------------------------------------------------------------------------------------------------------

def raw_type(size, big):
    return np.dtype(f"{'>' if big else '<'}u{size}")


def view_values(dtype, size, buffer, base, offset, shape, stride, big):
    """Elements of a strided view in row-major order, as our dtype's little-endian bytes, then decoded."""
    raw = np.frombuffer(buffer, dtype=raw_type(size, big), count=(len(buffer) - base) // size, offset=base)
    count = int(np.prod(shape)) if shape else 1
    if count == 0:
        return decode(dtype, b"")
    view = as_strided(raw[offset:], shape=tuple(shape), strides=tuple(s * size for s in stride))
    return decode(dtype, np.ascontiguousarray(view).astype(raw_type(size, False)).tobytes())


def tensor_record(name, value, file, read_storage, pickle_offset):
    record = {"name": name, "dtype": None, "shape": None, "file": str(file), "offset": 0, "bytes": 0, "stats": None, "error": None}
    if isinstance(value, NpArray):
        _version, shape, npdtype, fortran, raw = value.state[-5:] if len(value.state) == 5 else (None, *value.state)
        order = npdtype.order if npdtype.order in "<>" else "<"
        ours = NUMPY_CODES.get(npdtype.code)
        record.update(dtype=ours or npdtype.code, shape=list(shape), offset=pickle_offset)
        if ours is None:
            record["error"] = {"code": "UNSUPPORTED_DTYPE"}
            return record
        size = int(npdtype.code[1:])
        record["bytes"] = int(np.prod(shape)) * size
        strides = [int(np.prod(shape[:k])) for k in range(len(shape))] if fortran else \
            [int(np.prod(shape[k + 1:])) for k in range(len(shape))]
        record["stats"] = stats(view_values(ours, size, raw, 0, 0, shape, strides, order == ">" and size > 1))
        return record
    if isinstance(value, Storage):
        value = Tensor(value, 0, [value.numel], [1], value.dtype)
    ours, size = TORCH_DTYPES.get(value.dtype, (value.dtype, 0))
    count = int(np.prod(value.shape)) if value.shape else 1
    record.update(dtype=ours, shape=list(value.shape), bytes=count * size)
    if value.problem:
        record["error"] = {"code": value.problem}
        return record
    site = read_storage(value.storage)
    if isinstance(site, str):
        record.update(bytes=count * size, error={"code": site})
        return record
    buffer, start, big, located = site
    storage_size = TORCH_DTYPES[value.storage.dtype][1]
    base = start + value.storage.element_offset * storage_size
    record["offset"] = located + value.storage.element_offset * storage_size + value.offset * size
    if ours not in DECODABLE:
        record["error"] = {"code": "UNSUPPORTED_DTYPE"}
        return record
    capacity = value.storage.numel * storage_size // size
    if count > 0 and value.offset + sum((d - 1) * s for d, s in zip(value.shape, value.stride)) >= capacity:
        record["error"] = {"code": "VIEW_OUT_OF_RANGE"}
        return record
    record["stats"] = stats(view_values(ours, size, buffer, base, value.offset, value.shape, value.stride, big and size > 1))
    return record


def local_data_offset(path, info):
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length


def unique(name, names):
    candidate, n = name, 2
    while candidate in names:
        candidate = f"{name}#{n}"
        n += 1
    names.add(candidate)
    return candidate


def read_torch_zip(path):
    zf = zipfile.ZipFile(path)
    infos = zf.infolist()
    prefix = infos[0].filename.split("/")[0] + "/"
    names = {i.filename: i for i in infos}
    big = prefix + "byteorder" in names and zf.read(prefix + "byteorder").strip() == b"big"
    script = prefix + "constants.pkl" in names or any(n.startswith(prefix + "code/") for n in names)
    layouts = [("data.pkl", ["data/"], [])] + ([("constants.pkl", ["constants/", "tensors/"], ["constants"])] if script and prefix + "constants.pkl" in names else [])
    records, taken = [], set()
    for pkl, dirs, name_prefix in layouts:
        load, _roots = storage_loader(False)
        obj = StubUnpickler(io.BytesIO(zf.read(prefix + pkl)), load).load()
        pickle_offset = local_data_offset(path, names[prefix + pkl])

        def read_storage(storage, dirs=dirs):
            info = next((names[prefix + d + storage.key] for d in dirs if prefix + d + storage.key in names), None)
            if info is None:
                return "TORCH_MISSING_STORAGE"
            data = zf.read(info.filename)
            if len(data) < storage.numel * TORCH_DTYPES[storage.dtype][1]:
                return "TORCH_STORAGE_SIZE"
            located = local_data_offset(path, info) if info.compress_type == zipfile.ZIP_STORED else 0
            return data, 0, big, located

        for parts, value in walk(obj):
            name = unique(".".join(name_prefix + parts) or Path(path).stem, taken)
            records.append(tensor_record(name, value, path, read_storage, pickle_offset))
    return records


def read_torch_legacy(path):
    data = Path(path).read_bytes()
    f = io.BytesIO(data)
    assert StubUnpickler(f).load() == 0x1950A86A20F9469CFC6C
    assert StubUnpickler(f).load() == 1001
    sys_info = StubUnpickler(f).load()
    big = not sys_info.get("little_endian", True)
    object_start = f.tell()
    load, roots = storage_loader(True)
    obj = StubUnpickler(f, load).load()
    keys = StubUnpickler(f).load()
    starts, at = {}, f.tell()
    for key in keys:
        root = roots[str(key)]
        (count,) = struct.unpack(">q" if big else "<q", data[at:at + 8])
        assert count == root.numel
        starts[str(key)] = at + 8
        at += 8 + root.numel * TORCH_DTYPES[root.dtype][1]

    def read_storage(storage):
        if storage.key not in starts:
            return "TORCH_MISSING_STORAGE"
        return data, starts[storage.key], big, starts[storage.key]

    taken = set()
    return [tensor_record(unique(".".join(parts) or Path(path).stem, taken), value, path, read_storage, object_start)
            for parts, value in walk(obj)]


def npy_record(name, file, header_bytes, offset, data):
    version = header_bytes[6]
    text_start = 10 if version == 1 else 12
    (length,) = struct.unpack("<H" if version == 1 else "<I", header_bytes[8:text_start])
    header = __import__("ast").literal_eval(header_bytes[text_start:text_start + length].decode("latin1"))
    descr, fortran, shape = header["descr"], header["fortran_order"], list(header["shape"])
    dtype = np.dtype(descr)
    code = f"{dtype.kind}{dtype.itemsize}"
    ours = NUMPY_CODES.get(code)
    start = text_start + length
    record = {"name": name, "dtype": ours or ("C64" if code == "c8" else "C128" if code == "c16" else descr),
              "shape": shape, "file": str(file), "offset": offset + start, "bytes": int(np.prod(shape)) * dtype.itemsize,
              "stats": None, "error": None}
    if ours is None:
        record["error"] = {"code": "UNSUPPORTED_DTYPE"}
        return record
    array = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape)), offset=start).reshape(shape, order="F" if fortran else "C")
    record["stats"] = stats(decode(ours, np.ascontiguousarray(array).astype(dtype.newbyteorder("<")).tobytes()))
    return record


def read_numpy(path):
    data = Path(path).read_bytes()
    if data[:6] == b"\x93NUMPY":
        return [npy_record(Path(path).stem, path, data, 0, data)]
    zf = zipfile.ZipFile(path)
    records = []
    for info in zf.infolist():
        if not info.filename.lower().endswith(".npy"):
            continue
        member = zf.read(info.filename)
        record = npy_record(info.filename[:-4], path, member, local_data_offset(path, info) if info.compress_type == zipfile.ZIP_STORED else 0, member)
        records.append(record)
    return records


def read_file(path):
    path = Path(path)
    head = path.read_bytes()[:16]
    if path.suffix in (".npy", ".npz"):
        fmt, tensors = "numpy", read_numpy(path)
    elif head[:4] == b"PK\x03\x04":
        fmt, tensors = "pytorch", read_torch_zip(path)
    else:
        fmt, tensors = "pytorch", read_torch_legacy(path)
    return {"format": fmt, "files": [{"path": str(path), "bytes": path.stat().st_size}], "tensors": tensors}


# --- fixtures, written without torch -----------------------------------------------------------------------------

def fake_torch():
    """Stand-ins registered under torch's names so the pickle module writes the globals torch.save writes."""
    modules = {name: types.ModuleType(name) for name in ("torch", "torch._utils", "evil", "evil.payload")}
    sys.modules.update(modules)

    def named(module, fn):
        fn.__module__, fn.__qualname__ = module, fn.__name__
        setattr(modules[module], fn.__name__, fn)
        return fn

    def _rebuild_tensor_v2(*args):
        pass

    def _rebuild_tensor_v3(*args):
        pass

    def _rebuild_parameter(*args):
        pass

    named("torch._utils", _rebuild_tensor_v2)
    named("torch._utils", _rebuild_tensor_v3)
    named("torch._utils", _rebuild_parameter)
    storage_classes = {}
    for cls_name in list(STORAGES):
        cls = type(cls_name, (), {"__module__": "torch"})
        setattr(modules["torch"], cls_name, cls)
        storage_classes[cls_name] = cls
    dtypes = {}
    for dname in ("float8_e4m3fn", "float8_e5m2", "uint16", "float16", "bfloat16"):
        marker = type(dname, (), {"__module__": "torch"})
        setattr(modules["torch"], dname, marker)
        dtypes[dname] = marker
    payload = type("Exploit", (), {"__module__": "evil.payload", "__reduce__": lambda self: (type(self), ("rm -rf ~",))})
    modules["evil.payload"].Exploit = payload
    return modules["torch._utils"], storage_classes, dtypes, payload


class FakeStorage:
    def __init__(self, storage_class, key, raw, element_bytes, legacy_view=None):
        self.storage_class, self.key, self.raw, self.element_bytes, self.legacy_view = storage_class, key, raw, element_bytes, legacy_view


class FakeTensor:
    def __init__(self, func, storage, offset, shape, stride, dtype=None):
        self.func, self.args = func, (storage, offset, tuple(shape), tuple(stride), False, OrderedDict()) + ((dtype,) if dtype else ())

    def __reduce__(self):
        return self.func, self.args


class TorchPickler(pickle.Pickler):
    def __init__(self, file, legacy=False):
        super().__init__(file, protocol=2)
        self.legacy, self.seen = legacy, {}

    def persistent_id(self, obj):
        if not isinstance(obj, FakeStorage):
            return None
        self.seen[obj.key] = obj
        numel = len(obj.raw) // obj.element_bytes
        if self.legacy:
            return ("storage", obj.storage_class, obj.key, "cpu", numel, obj.legacy_view)
        return ("storage", obj.storage_class, obj.key, "cpu", numel)


def write_torch_zip(path, obj, folder, compress=zipfile.ZIP_STORED, byteorder="little", drop=()):
    buffer = io.BytesIO()
    pickler = TorchPickler(buffer)
    pickler.dump(obj)
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        zf.writestr(f"{folder}/data.pkl", buffer.getvalue())
        zf.writestr(f"{folder}/byteorder", byteorder)
        for key, storage in pickler.seen.items():
            if key not in drop:
                zf.writestr(f"{folder}/data/{key}", storage.raw)
        zf.writestr(f"{folder}/version", "3\n")


def write_torch_legacy(path, obj):
    out = io.BytesIO()
    for value in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                                  "type_sizes": {"short": 2, "int": 4, "long": 8}}):
        pickle.dump(value, out, protocol=2)
    pickler = TorchPickler(out, legacy=True)
    pickler.dump(obj)
    keys = sorted(pickler.seen)
    pickle.dump(keys, out, protocol=2)
    for key in keys:
        storage = pickler.seen[key]
        out.write(struct.pack("<q", len(storage.raw) // storage.element_bytes) + storage.raw)
    Path(path).write_bytes(out.getvalue())


def make_fixtures(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    utils, S, D, Exploit = fake_torch()
    rng = np.random.default_rng(20261125)
    v2, v3 = utils._rebuild_tensor_v2, utils._rebuild_tensor_v3

    def storage(cls, key, array):
        return FakeStorage(S[cls], key, np.ascontiguousarray(array).tobytes(), np.dtype(array.dtype).itemsize)

    def contiguous(shape):
        return [int(np.prod(shape[k + 1:])) for k in range(len(shape))]

    def tensor(st, shape, offset=0, stride=None):
        return FakeTensor(v2, st, offset, shape, stride or contiguous(shape))

    weights = storage("FloatStorage", "0", (rng.standard_normal(24 * 16) * 0.05).astype("<f4"))
    shared = storage("FloatStorage", "1", rng.standard_normal(60).astype("<f4"))
    bf16 = storage("BFloat16Storage", "2", (rng.standard_normal(128).astype("<f4").view("<u4") >> 16).astype("<u2"))

    def state_dict(big=False):
        order = ">" if big else "<"
        sd = OrderedDict()
        w = storage("FloatStorage", "0", np.frombuffer(weights.raw, "<f4").astype(order + "f4"))
        sh = storage("FloatStorage", "1", np.frombuffer(shared.raw, "<f4").astype(order + "f4"))
        sd["layer.weight"] = tensor(w, [24, 16])
        sd["layer.weight_t"] = tensor(w, [16, 24], stride=[1, 16])  # a transposed view of the same storage
        sd["view.rows"] = tensor(sh, [3, 5], offset=10, stride=[10, 1])  # every other row of 10
        sd["view.expanded"] = tensor(sh, [4, 5], offset=3, stride=[0, 2])  # stride 0 repeats a row
        sd["half"] = tensor(storage("HalfStorage", "3", rng.standard_normal(33).astype(order + "f2")), [3, 11])
        sd["bf16"] = tensor(storage("BFloat16Storage", "2", np.frombuffer(bf16.raw, "<u2").astype(order + "u2")), [8, 16])
        sd["f64"] = tensor(storage("DoubleStorage", "4", rng.standard_normal(10).astype(order + "f8")), [10])
        sd["steps"] = tensor(storage("LongStorage", "5", np.arange(-6, 6, dtype=order + "i8")), [2, 6])
        sd["i32"] = tensor(storage("IntStorage", "6", rng.integers(-1000, 1000, 9).astype(order + "i4")), [9])
        sd["i16"] = tensor(storage("ShortStorage", "7", rng.integers(-300, 300, 9).astype(order + "i2")), [9])
        sd["i8"] = tensor(storage("CharStorage", "8", rng.integers(-100, 100, 9).astype("i1")), [9])
        sd["u8"] = tensor(storage("ByteStorage", "9", rng.integers(0, 255, 9).astype("u1")), [9])
        sd["mask"] = tensor(storage("BoolStorage", "10", np.array([1, 0, 1, 1, 0, 0], dtype="u1")), [2, 3])
        sd["scalar"] = tensor(storage("FloatStorage", "11", np.array([2.5], dtype=order + "f4")), [])
        sd["empty"] = tensor(storage("FloatStorage", "12", np.zeros(0, dtype=order + "f4")), [0, 4])
        return sd

    write_torch_zip(out / "zip_stored.pt", state_dict(), "zip_stored")
    write_torch_zip(out / "zip_deflated.pt", state_dict(), "archive", compress=zipfile.ZIP_DEFLATED)
    write_torch_zip(out / "zip_bigendian.pt", state_dict(big=True), "zip_bigendian", byteorder="big")

    untyped = lambda key, array: FakeStorage(S["UntypedStorage"], key, np.ascontiguousarray(array).tobytes(), 1)
    write_torch_zip(out / "zip_untyped_v3.pt", OrderedDict([
        ("e4m3", FakeTensor(v3, untyped("0", rng.integers(0, 256, 64, dtype=np.uint8)), 0, (8, 8), (8, 1), D["float8_e4m3fn"])),
        ("e5m2", FakeTensor(v3, untyped("1", rng.integers(0, 256, 64, dtype=np.uint8)), 4, (6, 6), (10, 1), D["float8_e5m2"])),
        ("u16", FakeTensor(v3, untyped("2", rng.integers(0, 65535, 20).astype("<u2")), 2, (3, 6), (6, 1), D["uint16"])),
    ]), "zip_untyped_v3")

    parameter = lambda t: type("P", (), {"__reduce__": lambda self: (utils._rebuild_parameter, (t, True, OrderedDict()))})()
    moments = storage("FloatStorage", "m", rng.standard_normal(12).astype("<f4"))
    nested = {
        "epoch": 3,
        "model": OrderedDict([("a.weight", parameter(tensor(weights, [24, 16]))), ("b.bias", tensor(shared, [60]))]),
        "optimizer": {"state": {0: {"step": tensor(storage("FloatStorage", "s", np.array([14.0], "<f4")), []),
                                    "exp_avg": tensor(moments, [3, 4]), "exp_avg_sq": tensor(moments, [2, 4], offset=4)}},
                      "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "params": [0]}]},
        "history": [tensor(shared, [5], offset=i * 5) for i in range(3)],
        "arrays": {"c_order": np.arange(12, dtype="<f4").reshape(3, 4) - 5.5,
                   "fortran": np.asfortranarray(rng.standard_normal((3, 5)).astype("<f8")),
                   "big_endian": np.arange(-4, 5, dtype=">i4"),
                   "bools": np.array([True, False, True])},
    }
    write_torch_zip(out / "zip_nested.pt", nested, "zip_nested")

    problems = OrderedDict([
        ("fine", tensor(weights, [4, 16])),
        ("complex", tensor(storage("ComplexFloatStorage", "c", (rng.standard_normal(4) + 1j).astype("<c8")), [4])),
        ("too_long", tensor(shared, [70])),
        ("beyond", tensor(shared, [5, 5], offset=40, stride=[5, 1])),
        ("missing", tensor(storage("FloatStorage", "gone", np.zeros(4, "<f4")), [4])),
        ("payload", Exploit()),
    ])
    write_torch_zip(out / "zip_problems.pth", problems, "zip_problems", drop=("gone",))

    legacy_root = storage("FloatStorage", "140000000001", rng.standard_normal(40).astype("<f4"))
    legacy_view = FakeStorage(S["FloatStorage"], "140000000001", legacy_root.raw, 4, ("140000000002", 10, 20))
    write_torch_legacy(out / "legacy.pth", OrderedDict([
        ("conv.weight", tensor(legacy_root, [2, 3, 2], stride=[1, 2, 6])),  # column-major, as old exports were
        ("conv.bias", tensor(storage("FloatStorage", "140000000003", rng.standard_normal(7).astype("<f4")), [7])),
        ("from_view", tensor(legacy_view, [4, 5])),
        ("count", tensor(storage("LongStorage", "140000000004", np.array([1234], "<i8")), [])),
    ]))

    arrays = {"f32": rng.standard_normal((20, 30)).astype("<f4"), "f16": rng.standard_normal(50).astype("<f2"),
              "f64_fortran": np.asfortranarray(rng.standard_normal((7, 9))), "i64": np.arange(-20, 20, dtype="<i8"),
              "u16_big": rng.integers(0, 65535, 40).astype(">u2"), "bool": rng.integers(0, 2, 17).astype(bool),
              "u8": rng.integers(0, 255, 31).astype("u1"), "i8": rng.integers(-128, 127, 13).astype("i1"),
              "complex": (rng.standard_normal(3) + 1j).astype("<c8"), "scalar": np.array(7.25, "<f4"),
              "empty": np.zeros((0, 3), "<f4")}
    np.savez(out / "arrays.npz", **arrays)
    np.savez_compressed(out / "arrays_compressed.npz", **arrays)
    np.save(out / "matrix.npy", arrays["f32"])
    np.save(out / "fortran_big.npy", np.asfortranarray(rng.standard_normal((6, 4)).astype(">f8")))
    with open(out / "version2.npy", "wb") as f:
        np.lib.format.write_array(f, arrays["i64"], version=(2, 0))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make-fixtures":
        make_fixtures(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "stats":
        print(json.dumps(read_file(sys.argv[2])))
    else:
        sys.exit(__doc__)
