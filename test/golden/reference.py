#!/usr/bin/env python3
"""Independent float64 reference for `weightscope stats --json`, and the seeded fixtures the golden tests use.

    reference.py stats FILE...          JSON in the CLI's shape, computed with numpy from our own parser/decoders
    reference.py make-fixtures DIR      writes seeded safetensors files covering every dtype and edge case
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np

QUANTILES = ["0.001", "0.01", "0.05", "0.25", "0.5", "0.75", "0.95", "0.99", "0.999"]
BITS = {"F64": 64, "F32": 32, "F16": 16, "BF16": 16, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8,
        "F8_E5M2FNUZ": 8, "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4, "I64": 64, "I32": 32, "I16": 16, "I8": 8, "U64": 64,
        "U32": 32, "U16": 16, "U8": 8, "BOOL": 8}
ALIASES = {"E8M0": "F8_E8M0", "UE8": "F8_E8M0", "FP4": "F4"}


def minifloat_table(exp_bits, man_bits, bias, total_bits, ieee_special):
    """Value of every bit pattern of a sign/exponent/mantissa format, by the textbook formula."""
    out = np.empty(1 << total_bits, dtype=np.float64)
    for p in range(1 << total_bits):
        sign = -1.0 if (p >> (exp_bits + man_bits)) & 1 else 1.0
        e = (p >> man_bits) & ((1 << exp_bits) - 1)
        m = p & ((1 << man_bits) - 1)
        if ieee_special and e == (1 << exp_bits) - 1:
            out[p] = sign * np.inf if m == 0 else np.nan
        elif e == 0:
            out[p] = sign * m / (1 << man_bits) * 2.0 ** (1 - bias)
        else:
            out[p] = sign * (1 + m / (1 << man_bits)) * 2.0 ** (e - bias)
    return out


def tables():
    e4m3 = minifloat_table(4, 3, 7, 8, False)
    e4m3[0x7F] = e4m3[0xFF] = np.nan
    e4m3fnuz = minifloat_table(4, 3, 8, 8, False)
    e4m3fnuz[0x80] = np.nan
    e5m2fnuz = minifloat_table(5, 2, 16, 8, False)
    e5m2fnuz[0x80] = np.nan
    e8m0 = np.array([2.0 ** (e - 127) for e in range(256)])
    e8m0[0xFF] = np.nan
    return {
        "F8_E4M3": e4m3, "F8_E5M2": minifloat_table(5, 2, 15, 8, True), "F8_E4M3FNUZ": e4m3fnuz,
        "F8_E5M2FNUZ": e5m2fnuz, "F8_E8M0": e8m0, "F6_E2M3": minifloat_table(2, 3, 1, 6, False),
        "F6_E3M2": minifloat_table(3, 2, 3, 6, False), "F4": minifloat_table(2, 1, 1, 4, False),
    }


TABLES = tables()


def decode(dtype, raw):
    b = np.frombuffer(raw, dtype=np.uint8)
    if dtype == "BF16":
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    simple = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1"}
    if dtype in simple:
        return np.frombuffer(raw, simple[dtype]).astype(np.float64)
    if dtype == "BOOL":
        return (b != 0).astype(np.float64)
    if dtype == "F4":
        nibbles = np.stack([b & 15, b >> 4], axis=1).reshape(-1)
        return TABLES["F4"][nibbles]
    if dtype in ("F6_E2M3", "F6_E3M2"):
        g = b.reshape(-1, 3).astype(np.uint32)
        word = g[:, 0] | (g[:, 1] << 8) | (g[:, 2] << 16)
        patterns = np.stack([(word >> (6 * i)) & 63 for i in range(4)], axis=1).reshape(-1)
        return TABLES[dtype][patterns]
    return TABLES[dtype][b]


def stats(x):
    nan = int(np.isnan(x).sum())
    posinf = int(np.isposinf(x).sum())
    neginf = int(np.isneginf(x).sum())
    f = x[np.isfinite(x)]
    out = {"count": int(f.size), "mean": None, "std": None, "min": None, "max": None, "absmax": None,
           "l2": float(np.sqrt(np.sum(f * f))) if f.size else 0.0, "zeros": int((f == 0).sum()), "nan": nan,
           "posinf": posinf, "neginf": neginf, "skewness": None, "kurtosis": None,
           "quantiles": {q: None for q in QUANTILES}}
    if f.size == 0:
        return out
    mean = float(f.mean())
    d = f - mean
    m2, m3, m4 = float(np.mean(d ** 2)), float(np.mean(d ** 3)), float(np.mean(d ** 4))
    out.update(mean=mean, std=float(np.sqrt(m2)), min=float(f.min()), max=float(f.max()), absmax=float(np.abs(f).max()))
    if m2 > 0:
        out["skewness"] = m3 / m2 ** 1.5
        out["kurtosis"] = m4 / m2 ** 2 - 3
    qs = np.quantile(f, [float(q) for q in QUANTILES], method="inverted_cdf")
    out["quantiles"] = {q: float(v) for q, v in zip(QUANTILES, qs)}
    return out


def read_file(path):
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = []
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = ALIASES.get(entry["dtype"], entry["dtype"])
        record = {"name": name, "dtype": dtype, "shape": entry["shape"], "file": str(path), "offset": 8 + n + begin,
                  "bytes": end - begin, "stats": None, "error": None}
        if dtype in BITS:
            record["stats"] = stats(decode(dtype, data[8 + n + begin:8 + n + end]))
        else:
            record["error"] = {"code": "UNSUPPORTED_DTYPE"}
        tensors.append(record)
    return {"format": "safetensors", "files": [{"path": str(path), "bytes": len(data)}], "metadata": metadata,
            "tensors": tensors}


def write_file(path, tensors, metadata=None, pad=True):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def make_fixtures(out):
    rng = np.random.default_rng(20261124)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def floats(n, scale=0.02):
        x = rng.standard_normal(n) * scale
        x[rng.integers(0, n, 3)] *= 300  # planted outliers
        return x

    def bf16(x):
        bits = np.asarray(x, np.float32).view(np.uint32)
        return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()

    all8 = bytes(range(256))
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, -3.5, 2.0])
    write_file(out / "floats.safetensors", [
        ("big_bf16", "BF16", [3000, 1000], bf16(floats(3_000_000))),
        ("f16", "F16", [4096], floats(4096, 1.0).astype("<f2").tobytes()),
        ("f16_special", "F16", [8], special.astype("<f2").tobytes()),
        ("f32", "F32", [800, 1000], floats(800_000).astype("<f4").tobytes()),
        ("f32_special", "F32", [8], special.astype("<f4").tobytes()),
        ("f32_heavy", "F32", [5000], rng.standard_t(2, 5000).astype("<f4").tobytes()),
        ("f64", "F64", [3000], floats(3000, 5.0).astype("<f8").tobytes()),
        ("f64_special", "F64", [8], special.astype("<f8").tobytes()),
        ("bf16_all_patterns", "BF16", [65536], np.arange(65536, dtype="<u2").tobytes()),
        ("f16_all_patterns", "F16", [65536], np.arange(65536, dtype="<u2").tobytes()),
    ], {"purpose": "golden floats"})
    write_file(out / "small_types.safetensors", [
        ("e4m3", "F8_E4M3", [256], all8), ("e5m2", "F8_E5M2", [256], all8), ("e8m0", "F8_E8M0", [256], all8),
        ("e4m3fnuz", "F8_E4M3FNUZ", [256], all8), ("e5m2fnuz", "F8_E5M2FNUZ", [256], all8),
        ("e4m3_random", "F8_E4M3", [10000], rng.integers(0, 256, 10000, dtype=np.uint8).tobytes()),
        ("odd_u8", "U8", [7], bytes([1, 2, 3, 250, 0, 0, 9])),
        ("f4_all", "F4", [512], bytes(range(256))),
        ("f6_e2m3", "F6_E2M3", [128], rng.integers(0, 256, 96, dtype=np.uint8).tobytes()),
        ("f6_e3m2", "F6_E3M2", [128], rng.integers(0, 256, 96, dtype=np.uint8).tobytes()),
        ("unaligned_f32", "F32", [5], np.array([1, -2, 3, -4, 5.5], "<f4").tobytes()),
        ("fp4_alias", "FP4", [4], bytes([0x21, 0xF7])),
        ("e8m0_alias", "E8M0", [3], bytes([127, 128, 0])),
    ], pad=False)
    write_file(out / "ints.safetensors", [
        ("i64_wide", "I64", [2000], rng.integers(-(2 ** 62), 2 ** 62, 2000, dtype=np.int64).astype("<i8").tobytes()),
        ("i64_narrow", "I64", [3000], rng.integers(-5, 50, 3000).astype("<i8").tobytes()),
        ("i32", "I32", [5000], rng.integers(-(2 ** 31), 2 ** 31 - 1, 5000, dtype=np.int64).astype("<i4").tobytes()),
        ("u32", "U32", [100], rng.integers(0, 2 ** 32 - 1, 100, dtype=np.uint64).astype("<u4").tobytes()),
        ("u64", "U64", [100], rng.integers(0, 2 ** 63, 100, dtype=np.uint64).astype("<u8").tobytes()),
        ("i16", "I16", [1000], rng.integers(-30000, 30000, 1000).astype("<i2").tobytes()),
        ("u16", "U16", [1000], rng.integers(0, 65535, 1000).astype("<u2").tobytes()),
        ("i8", "I8", [300], rng.integers(-128, 127, 300).astype("i1").tobytes()),
        ("bool", "BOOL", [9], bytes([0, 1, 1, 0, 2, 0, 1, 0, 0])),
        ("position_ids", "I64", [1, 512], np.arange(512, dtype="<i8").tobytes()),
        ("scalar", "I64", [], np.array([42], "<i8").tobytes()),
        ("empty", "F32", [0, 16], b""),
        ("constant", "F32", [64], np.full(64, 0.5, "<f4").tobytes()),
        ("all_nan", "F32", [3], np.full(3, np.nan, "<f4").tobytes()),
        ("complex", "C64", [2], bytes(16)),
        ("mystery", "X7", [3], bytes(3)),
    ])


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make-fixtures":
        make_fixtures(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "stats":
        docs = [read_file(p) for p in sys.argv[2:]]
        print(json.dumps(docs[0] if len(docs) == 1 else docs))
    else:
        sys.exit(__doc__)
