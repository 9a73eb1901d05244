#!/usr/bin/env python3
"""Independent float64 references (numpy) for `weightscope tile`, `outliers` and `quant`, and their seeded fixtures.

    reference_quant.py make-fixtures DIR                    seeded safetensors with planted outliers and a super weight
    reference_quant.py tile FILE NAME A:B C:D HxW REDUCE     the `tile --json` document
    reference_quant.py outliers FILE [TOP]                   the `outliers --json` document
    reference_quant.py quant FILE [--keep-outliers] S...     the `quant --json` document
    reference_quant.py gguf-quant FILE S...                  Q8_0/Q4_0 errors through gguf-py's own quantizers

Definitions follow the README: matrices are [dim0, product of the rest]; reductions skip non-finite values; groups
run along rows, a trailing partial group on its own; rounding is half to even (numpy.rint) except ggml's Q8_0
(roundf) and Q4_0 (truncation after + 8.5), computed in float32 as ggml does.
"""
import json
import re
import math
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from reference import ALIASES, BITS, decode, write_file  # noqa: E402

FLOAT_TYPES = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F6_E2M3",
               "F6_E3M2", "F4"}


def read_tensors(path):
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = []
    for name, entry in header.items():
        dtype = ALIASES.get(entry["dtype"], entry["dtype"])
        begin, end = entry["data_offsets"]
        values = decode(dtype, data[8 + n + begin:8 + n + end]) if dtype in BITS else None
        if values is not None:
            values = values[:int(np.prod(entry["shape"], dtype=np.int64))]
        out.append({"name": name, "dtype": dtype, "shape": entry["shape"], "values": values})
    return out


def as_matrix(t):
    shape = t["shape"]
    rows = 1 if len(shape) <= 1 else shape[0]
    cols = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) >= 2 else (shape[0] if shape else 1)
    return t["values"].reshape(rows, cols)


def finite_or_none(x):
    return float(x) if x is not None and math.isfinite(x) else None


# ---------------------------------------------------------------------------------------------------------- tiles

def tile(path, name, rows, cols, size, reduce):
    t = next(t for t in read_tensors(path) if t["name"] == name)
    m = as_matrix(t)
    a, b = rows
    c, d = cols
    h, w = size
    values = []
    for i in range(h):
        r0, r1 = a + i * (b - a) // h, a + (i + 1) * (b - a) // h
        line = []
        for j in range(w):
            c0, c1 = c + j * (d - c) // w, c + (j + 1) * (d - c) // w
            block = m[r0:r1, c0:c1]
            f = block[np.isfinite(block)]
            if f.size == 0:
                line.append(None)
            elif reduce == "mean":
                line.append(math.fsum(f.tolist()) / f.size)
            elif reduce == "absmax":
                line.append(float(np.abs(f).max()))
            elif reduce == "min":
                line.append(float(f.min()))
            else:
                line.append(float(f.max()))
        values.append(line)
    return {"tensor": name, "rows": [a, b], "cols": [c, d], "size": [h, w], "reduce": reduce, "values": values}


# ------------------------------------------------------------------------------------------------------- outliers

DOWN_PROJECTION = (r"(^|[._])down_proj([._]|$)|(^|[._])ffn_down(_exps|_shexp)?([._]|$)|(^|\.)w2(\.|$)|(^|[._])fc2([._]|$)"
                   r"|(^|\.)mlp\.c_proj(\.|$)|(^|[._])dense_4h_to_h([._]|$)|(^|\.)DenseReluDense\.wo(\.|$)"
                   r"|(^|\.)feed_forward\.output_dense(\.|$)|(^|\.)layer\.\d+\.output\.dense(\.|$)")
SUPER_WEIGHT_TOP, SUPER_WEIGHT_MIN_Z, SUPER_WEIGHT_REFERENCE, SUPER_WEIGHT_MIN_LEAD = 4, 20, 8, 2


def channel_ranking(m, axis, top):
    """Top channels along an axis (0: rows, 1: columns) by absmax, ties to the lower index; and max/median."""
    finite = np.isfinite(m)
    x = np.where(finite, m, 0.0)
    counts = finite.sum(axis=1 - axis)
    absmax = np.abs(x).max(axis=1 - axis)
    rms = np.sqrt((x * x).sum(axis=1 - axis) / np.maximum(counts, 1))
    present = np.nonzero(counts > 0)[0]
    order = sorted(present, key=lambda i: (-absmax[i], i))[:top]
    median = float(np.median(absmax[present])) if present.size else math.nan
    ratio = float(absmax[present].max()) / median if present.size and median > 0 else None
    return ratio, [{"index": int(i), "absmax": float(absmax[i]), "rms": float(rms[i])} for i in order]


def outliers(path, top=10):
    tensors, candidates = [], []
    for order, t in enumerate(read_tensors(path)):
        if t["values"] is None or t["dtype"] not in FLOAT_TYPES or len(t["shape"]) < 2 or t["values"].size == 0:
            continue
        m = as_matrix(t)
        finite = np.isfinite(m)
        row_ratio, top_rows = channel_ranking(m, 0, top)
        col_ratio, top_cols = channel_ranking(m, 1, top)
        a = np.abs(m[finite])
        mean, std = float(a.mean()), float(a.std())
        r, c = np.nonzero(finite)
        v = m[r, c]
        ranked = np.lexsort((c, r, -np.abs(v)))[:max(top, SUPER_WEIGHT_REFERENCE)]
        scalars = [{"row": int(r[k]), "col": int(c[k]), "value": float(v[k]),
                    "z": (abs(float(v[k])) - mean) / std if std > 0 else None} for k in ranked]
        tensors.append({"name": t["name"], "shape": t["shape"], "row_outlier_ratio": row_ratio,
                        "col_outlier_ratio": col_ratio, "top_rows": top_rows, "top_cols": top_cols,
                        "top_scalars": scalars[:top]})

        if re.search(DOWN_PROJECTION, t["name"]) and len(scalars) >= SUPER_WEIGHT_REFERENCE:
            reference = abs(scalars[SUPER_WEIGHT_REFERENCE - 1]["value"])
            for s in scalars[:SUPER_WEIGHT_TOP]:
                if s["z"] is not None and s["z"] >= SUPER_WEIGHT_MIN_Z and abs(s["value"]) >= SUPER_WEIGHT_MIN_LEAD * reference:
                    candidates.append((order, t["name"], s))
    candidates.sort(key=lambda x: (-abs(x[2]["value"]), x[0], x[2]["row"], x[2]["col"]))
    return {"tensors": tensors, "super_weight_candidates": [
        {"tensor": name, "row": s["row"], "col": s["col"], "value": s["value"]} for _, name, s in candidates]}


# ---------------------------------------------------------------------------------------------------- quantization

def round_minifloat(x, mantissa_bits, min_exponent, largest):
    """Nearest value of a sign/exponent/mantissa grid, ties to even, saturating at ±largest."""
    a = np.abs(x)
    _, e = np.frexp(a)
    exponent = np.maximum(e - 1, min_exponent)
    spacing = np.ldexp(1.0, exponent - mantissa_bits)
    r = np.minimum(np.rint(a / spacing) * spacing, largest)
    r = np.where(a >= largest, largest, r)
    return np.where(a == 0, x, np.copysign(r, x))


def e4m3(x):
    return round_minifloat(x, 3, -6, 448.0)


def e2m1(x):
    return round_minifloat(x, 1, 0, 6.0)


def roundf32(x):
    """C's roundf (half away from zero) in float32, as gguf-py writes it."""
    a = np.abs(x)
    floored = np.floor(a)
    return np.sign(x) * (floored + np.floor(np.float32(2) * (a - floored)))


SCHEMES = {  # name: (kind, bits, group or None for whole rows)
    "int8-sym-row": ("sym", 8, None), "int8-sym-g128": ("sym", 8, 128), "int4-sym-g32": ("sym", 4, 32),
    "int4-asym-g128": ("asym", 4, 128), "int4-asym-g64": ("asym", 4, 64), "int3-asym-g64": ("asym", 3, 64),
    "q8_0": ("q8_0", 8, 32), "q4_0": ("q4_0", 4, 32), "fp8-e4m3-tensor": ("fp8", 8, None),
    "fp8-e4m3-row": ("fp8", 8, None), "mxfp4": ("mxfp4", 4, 32), "nvfp4": ("nvfp4", 4, 16),
}


def group_blocks(m, g):
    """Rows cut into consecutive groups of g (a trailing partial group on its own): (full groups, tails)."""
    rows, cols = m.shape
    full = cols // g * g
    blocks = [m[:, :full].reshape(-1, g)] if full else []
    if cols % g:
        blocks.append(m[:, full:])
    return blocks


def reconstruct(scheme, b, regular, tensor_absmax):
    """ŵ for each element of the groups in b (one group per row); only regular elements set the scales."""
    kind, bits, _ = SCHEMES[scheme]
    with np.errstate(all="ignore"):
        if kind == "sym":
            qmax = 2.0 ** (bits - 1) - 1
            s = np.where(regular, np.abs(b), 0).max(axis=1, keepdims=True) / qmax
            return np.where(s > 0, s * np.clip(np.rint(b / s), -qmax - 1, qmax), b)
        if kind == "asym":
            levels = 2.0 ** bits - 1
            lo = np.where(regular, b, np.inf).min(axis=1, keepdims=True)
            hi = np.where(regular, b, -np.inf).max(axis=1, keepdims=True)
            s = (hi - lo) / levels
            z = np.rint(-lo / s)
            return np.where(s > 0, s * (np.clip(np.rint(b / s) + z, 0, levels) - z), b)
        if kind == "q8_0":
            f = b.astype(np.float32)
            d = np.where(regular, np.abs(f), np.float32(0)).max(axis=1, keepdims=True) / np.float32(127)
            inverse = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
            q = roundf32(f * inverse)
            return (q * d.astype(np.float16).astype(np.float32)).astype(np.float64)
        if kind == "q4_0":
            f = b.astype(np.float32)
            at = np.where(regular, np.abs(f), np.float32(-1)).argmax(axis=1)[:, None]
            d = np.take_along_axis(f, at, axis=1) / np.float32(-8)
            d = np.where(np.take_along_axis(regular, at, axis=1), d, np.float32(0)).astype(np.float32)
            inverse = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
            codes = np.minimum(np.trunc(f * inverse + np.float32(8.5)), 15)
            return ((codes - np.float32(8)) * d.astype(np.float16).astype(np.float32)).astype(np.float64)
        if kind == "fp8":
            amax = tensor_absmax if scheme == "fp8-e4m3-tensor" else np.where(regular, np.abs(b), 0).max(axis=1, keepdims=True)
            s = amax / 448.0
            return np.where(s > 0, s * e4m3(b / s), b)
        if kind == "mxfp4":
            amax = np.where(regular, np.abs(b), 0).max(axis=1, keepdims=True)
            _, e = np.frexp(amax)
            scale = np.ldexp(1.0, np.clip(e - 1 - 2, -127, 127))
            return np.where(amax > 0, scale * e2m1(b / scale), b)
        if kind == "nvfp4":
            if tensor_absmax == 0:
                return b
            g = float(np.float32(448.0 * 6.0 / tensor_absmax))
            amax = np.where(regular, np.abs(b), 0).max(axis=1, keepdims=True)
            s = e4m3(amax / 6.0 * g)
            d = s / g
            return np.where(s > 0, d * e2m1(b / d), 0.0)
    raise ValueError(scheme)


def quant_errors(m, scheme, keep_fraction):
    """(count, Σw², Σe², max|e|) of a matrix under a scheme, keeping ceil(fraction · count) largest |w| exact."""
    finite = np.isfinite(m)
    count = int(finite.sum())
    flat = np.where(finite, m, 0.0).reshape(-1)
    kept = np.zeros(flat.size, dtype=bool)
    k = -(-count * round(keep_fraction * 1000) // 1000)
    if k:
        magnitude = np.where(finite.reshape(-1), np.abs(flat), -1.0)
        order = np.lexsort((np.arange(flat.size), -magnitude))
        kept[order[:k]] = True
    kept = kept.reshape(m.shape)
    regular = finite & ~kept
    tensor_absmax = float(np.abs(m[regular]).max()) if regular.any() else 0.0
    _, _, g = SCHEMES[scheme]
    g = g or m.shape[1]
    values = np.where(finite, m, 0.0)
    squared, largest = 0.0, 0.0
    for b, r in zip(group_blocks(values, g), group_blocks(regular, g)):
        e = np.where(r, b - reconstruct(scheme, b, r, tensor_absmax), 0.0)
        squared += float((e * e).sum())
        largest = max(largest, float(np.abs(e).max()) if e.size else 0.0)
    return count, float((values * values).sum()), squared, largest


def metrics(count, signal, squared, largest):
    if count == 0:
        return {"mse": None, "sqnr_db": None, "max_abs_err": None}
    return {"mse": squared / count, "sqnr_db": 10 * math.log10(signal / squared) if squared > 0 and signal > 0 else None,
            "max_abs_err": largest}


def scheme_applies(t, scheme):
    if scheme in ("q8_0", "q4_0"):
        return (t["shape"][-1] if t["shape"] else 1) % 32 == 0
    return True


def quant(path, schemes, keep_outliers=False):
    rows = []
    for t in read_tensors(path):
        if t["values"] is None or t["dtype"] not in FLOAT_TYPES or t["values"].size == 0:
            continue
        m = as_matrix(t)
        for scheme in schemes:
            if not scheme_applies(t, scheme):
                continue
            row = {"name": t["name"], "scheme": scheme, **metrics(*quant_errors(m, scheme, 0.0))}
            if keep_outliers:
                row["kept"] = [{"fraction": f, **metrics(*quant_errors(m, scheme, f))} for f in (0.001, 0.01)]
            rows.append(row)
    return {"tensors": rows}


def gguf_quant(path, schemes):
    """Q8_0/Q4_0 errors through gguf-py's quantizers (bit-exact ports of ggml's reference C code)."""
    from gguf import GGMLQuantizationType, quants
    kinds = {"q8_0": GGMLQuantizationType.Q8_0, "q4_0": GGMLQuantizationType.Q4_0}
    rows = []
    for t in read_tensors(path):
        if t["values"] is None or t["dtype"] not in FLOAT_TYPES or t["values"].size == 0 or not np.isfinite(t["values"]).all():
            continue
        m = as_matrix(t)
        for scheme in schemes:
            if not scheme_applies(t, scheme):
                continue
            f = m.astype(np.float32)
            restored = quants.dequantize(quants.quantize(f, kinds[scheme]), kinds[scheme]).astype(np.float64)
            e = m - restored
            rows.append({"name": t["name"], "scheme": scheme, **metrics(m.size, float((m * m).sum()), float((e * e).sum()), float(np.abs(e).max()))})
    return {"tensors": rows}


# -------------------------------------------------------------------------------------------------------- fixtures

def bf16(x):
    bits = np.asarray(x, np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()


PLANTED_CHANNELS = (5, 77)
SUPER_WEIGHT = ("model.layers.0.mlp.down_proj.weight", 17, 201, -3.0)


def make_fixtures(out):
    rng = np.random.default_rng(424242)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hidden, inner = 96, 256

    def channels(rows, cols, scale, loud_columns=()):
        x = rng.standard_normal((rows, cols)) * scale
        for c in loud_columns:
            x[:, c] *= 20
        return x

    down = channels(hidden, inner, 0.02)
    _, r, c, v = SUPER_WEIGHT
    down[r, c] = v
    norm = 1 + 0.05 * rng.standard_normal(hidden)
    norm[list(PLANTED_CHANNELS)] = 8.0
    ties = np.zeros((4, 64))
    ties[0, 0], ties[0, 1:9] = 127.0, [0.5, 1.5, 2.5, -2.5, 3.5, 126.5, -0.5, 64.5]  # int8 scale 1: exact ties
    ties[1, 0], ties[1, 1:7] = 7.0, [2.5, 3.5, -2.5, 0.5, 6.5, -7.0]  # int4 scale 1
    ties[2, :32] = np.linspace(-6, 6, 32)
    ties[3, 0], ties[3, 1:5] = 6.0, [5.0, 2.5, 1.25, 0.75]  # E2M1 ties
    special = channels(3, 40, 1.0)
    special[0, 3], special[1, 7], special[2, 0] = np.nan, np.inf, -np.inf
    write_file(out / "planted.safetensors", [
        ("model.embed_tokens.weight", "F16", [300, hidden], channels(300, hidden, 0.02, PLANTED_CHANNELS).astype("<f2").tobytes()),
        ("model.layers.0.input_layernorm.weight", "F16", [hidden], norm.astype("<f2").tobytes()),
        ("model.layers.0.self_attn.q_proj.weight", "BF16", [128, hidden], bf16(channels(128, hidden, 0.02, PLANTED_CHANNELS))),
        ("model.layers.0.mlp.up_proj.weight", "BF16", [inner, hidden], bf16(channels(inner, hidden, 0.02, PLANTED_CHANNELS))),
        (SUPER_WEIGHT[0], "F32", [hidden, inner], down.astype("<f4").tobytes()),
        ("model.layers.0.mlp.down_proj.bias", "F32", [hidden], channels(1, hidden, 0.01).astype("<f4").tobytes()),
        ("encoder.conv.weight", "F32", [16, 8, 3, 3], channels(16, 72, 0.1).astype("<f4").tobytes()),
        ("ties.weight", "F32", [4, 64], ties.astype("<f4").tobytes()),
        ("special.weight", "F32", [3, 40], special.astype("<f4").tobytes()),
        ("wide.weight", "F64", [33, 300], channels(33, 300, 3.0, (7,)).astype("<f8").tobytes()),
        ("zeros.weight", "F32", [4, 32], np.zeros(128, "<f4").tobytes()),
        ("tiny_range.weight", "F32", [2, 32], (1.0 + np.arange(64) * 1e-7).astype("<f4").tobytes()),
        ("scalar", "F32", [], np.array([2.5], "<f4").tobytes()),
        ("counts", "I32", [4, 4], np.arange(16, dtype="<i4").tobytes()),
    ], {"purpose": "golden outliers and quantization"})


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "make-fixtures":
        make_fixtures(args[0])
    elif command == "tile":
        path, name, rows, cols, size, reduce = args
        print(json.dumps(tile(path, name, [int(x) for x in rows.split(":")], [int(x) for x in cols.split(":")],
                              [int(x) for x in size.split("x")], reduce)))
    elif command == "outliers":
        print(json.dumps(outliers(args[0], int(args[1]) if len(args) > 1 else 10)))
    elif command == "quant":
        keep = "--keep-outliers" in args
        print(json.dumps(quant(args[0], [a for a in args[1:] if a != "--keep-outliers"], keep)))
    elif command == "gguf-quant":
        print(json.dumps(gguf_quant(args[0], args[1:])))
    else:
        sys.exit(__doc__)
