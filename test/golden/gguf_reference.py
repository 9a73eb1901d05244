#!/usr/bin/env python3
"""Independent references for GGUF, from the `gguf` Python package (gguf-py: GGUFReader, GGUFWriter, quants):

    gguf_reference.py stats FILE            `weightscope stats --json` of one GGUF file (or split set), computed with
                                            gguf-py's reader and `gguf.quants.dequantize`, statistics by numpy
    gguf_reference.py dequant TYPE IN OUT   raw blocks of TYPE in file IN dequantized to little-endian f32 in OUT
    gguf_reference.py types                 the GGUF type names gguf-py can dequantize, one per line
    gguf_reference.py blocks FILE GRID      block diagnostics (`weightscope blocks --json --grid GRID`) of the
                                            quantized tensors with an f16 block scale, read straight from the blocks
    gguf_reference.py make-fixtures DIR     seeded GGUF files written by GGUFWriter: quantized types, a split set,
                                            a big-endian file and a file with a 64-byte alignment
    gguf_reference.py make-llama DIR        a seeded Llama-shaped HF checkpoint (DIR/hf/model.safetensors, GQA) and
                                            DIR/model.gguf converted from it as convert_hf_to_gguf.py does: gguf-py's
                                            name map, LlamaModel.permute on Q/K, F32/F16/BF16 and quantized types
    gguf_reference.py hf-from-gguf GGUF OUT the HF safetensors a llama GGUF file (F32/F16) was converted from: HF names
                                            from gguf-py's name map, the converter's Q/K permutation inverted
    gguf_reference.py diff-hf A B           `weightscope diff A B --json` of a GGUF file and an HF safetensors file
                                            (either order): names by gguf-py's map, the HF Q/K permuted like the
                                            converter, GGUF values from `gguf.quants.dequantize`, float64 statistics
"""
import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType, GGUFEndian, GGUFReader, GGUFWriter, quants
from gguf.constants import GGML_QUANT_SIZES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import stats  # noqa: E402  (the float64 statistics the safetensors goldens use)

PLAIN = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I8": "i1", "I16": "<i2", "I32": "<i4", "I64": "<i8"}
# f16 fields of each block (byte offsets), set to sensible scales in generated fixtures so values stay finite.
HALF_FIELDS = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0], "Q2_K": [80, 82], "Q3_K": [108],
    "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208], "IQ2_XXS": [0], "IQ2_XS": [0], "IQ2_S": [0], "IQ3_XXS": [0],
    "IQ3_S": [0], "IQ1_S": [0], "IQ4_NL": [0], "IQ4_XS": [0], "TQ1_0": [52], "TQ2_0": [64],
}


def dequantizable():
    """GGUF type names whose dequantization gguf-py implements."""
    names = [t.name for t in GGMLQuantizationType if t in quants._type_traits]  # noqa: SLF001
    return [n for n in names if n not in ("F32", "F16", "BF16")]


def values_of(tensor):
    """Float64 values of a GGUFReader tensor, in storage (row-major logical) order."""
    name = tensor.tensor_type.name
    raw = np.asarray(tensor.data)
    if name in PLAIN:
        return raw.reshape(-1).astype(np.float64)
    if name == "BF16":
        bits = raw.reshape(-1).view(np.uint16).astype(np.uint32) << 16
        return bits.view(np.float32).astype(np.float64)
    return quants.dequantize(raw.reshape(-1).view(np.uint8), tensor.tensor_type).reshape(-1).astype(np.float64)


def split_files(path):
    """All files of the split set `path` belongs to (by name), or just `path`."""
    import re

    m = re.match(r"^(.*)-(\d{5})-of-(\d{5})\.gguf$", path.name)
    if not m:
        return [path]
    return [path.with_name(f"{m.group(1)}-{i:05d}-of-{m.group(3)}.gguf") for i in range(1, int(m.group(3)) + 1)]


def stats_document(path):
    path = Path(path)
    files, tensors = [], []
    for file in split_files(path):
        reader = GGUFReader(file)
        files.append({"path": str(file), "bytes": file.stat().st_size})
        for t in reader.tensors:
            name = t.tensor_type.name
            record = {"name": t.name, "dtype": name, "shape": [int(d) for d in reversed(t.shape.tolist())],
                      "file": str(file), "offset": int(t.data_offset), "bytes": int(t.n_bytes), "stats": None, "error": None}
            if name in PLAIN or name == "BF16" or name in dequantizable():
                record["stats"] = stats(values_of(t))
            else:
                record["error"] = {"code": "UNSUPPORTED_DTYPE"}
            tensors.append(record)
    return {"format": "gguf", "files": files, "tensors": tensors}


def f16_stats(halves):
    """Statistics of f16 values, and how many are ±0, subnormal, non-finite."""
    bits = halves.view(np.uint16)
    exponent, mantissa = (bits >> 10) & 31, bits & 1023
    edges = {"zero": int(((exponent == 0) & (mantissa == 0)).sum()), "subnormal": int(((exponent == 0) & (mantissa != 0)).sum()),
             "nonFinite": int((exponent == 31).sum())}
    return stats(halves.astype(np.float64)), edges


def blocks_document(path, grid):
    """d (and dmin / m) of every block from its bytes; the saturation of Q4_0 and Q8_0 codes; sub-block steps of
    Q4_K and Q6_K; the max-pooled |d| grid."""
    reader = GGUFReader(path)
    tensors = []
    for t in reader.tensors:
        name = t.tensor_type.name
        if name not in HALF_FIELDS:
            continue
        block_elements, block_bytes = GGML_QUANT_SIZES[t.tensor_type]
        inner = int(t.shape[0])
        rows, per_row = int(np.prod(t.shape)) // inner, inner // block_elements
        raw = np.asarray(t.data).reshape(-1).view(np.uint8).reshape(-1, block_bytes)
        fields = HALF_FIELDS[name]
        d = raw[:, fields[0]:fields[0] + 2].copy().view("<f2").reshape(-1)
        d_stats, edges = f16_stats(d)
        out = {"name": t.name, "dtype": name, "blocks": len(raw), "rows": rows, "blocksPerRow": per_row,
               "d": d_stats, "dmin": None, "subBlock": None, "scaleEdges": edges, "saturation": None}
        if len(fields) > 1:
            out["dmin"] = f16_stats(raw[:, fields[1]:fields[1] + 2].copy().view("<f2").reshape(-1))[0]
        if name == "Q4_0":
            nibbles = np.concatenate([raw[:, 2:] & 15, raw[:, 2:] >> 4], axis=1)
            at_edge = (nibbles == 0) | (nibbles == 15)
        elif name == "Q8_0":
            at_edge = np.abs(raw[:, 2:].view(np.int8).astype(np.int32)) >= 127
        else:
            at_edge = None
        if at_edge is not None:
            out["saturation"] = {"blocks": int(at_edge.any(axis=1).sum()), "elements": int(at_edge.sum())}
        if name == "Q4_K":
            sc, _ = quants.Q4_K.get_scale_min(raw[:, 4:16])
            out["subBlock"] = stats((d.astype(np.float32)[:, None] * sc.astype(np.float32)).reshape(-1).astype(np.float64))
        elif name == "Q6_K":
            sc = raw[:, 192:208].view(np.int8).astype(np.float32)
            out["subBlock"] = stats((d.astype(np.float32)[:, None] * sc).reshape(-1).astype(np.float64))
        magnitude = np.abs(d.astype(np.float64)).reshape(rows, per_row)
        magnitude[~np.isfinite(magnitude) & ~np.isinf(magnitude)] = np.nan
        rows_per_cell, blocks_per_cell = -(-rows // grid), -(-per_row // grid)
        cells = []
        for r in range(0, rows, rows_per_cell):
            row = []
            for c in range(0, per_row, blocks_per_cell):
                cell = magnitude[r:r + rows_per_cell, c:c + blocks_per_cell]
                row.append(None if np.isnan(cell).all() else float(np.nanmax(cell)))
            cells.append(row)
        out["grid"] = {"rowsPerCell": rows_per_cell, "blocksPerCell": blocks_per_cell, "cells": cells}
        tensors.append(out)
    return {"tensors": tensors}


def dequant(type_name, source, target):
    qtype = GGMLQuantizationType[type_name]
    raw = np.fromfile(source, dtype=np.uint8)
    out = quants.dequantize(raw.reshape(1, -1), qtype).reshape(-1).astype("<f4")
    out.tofile(target)


def random_blocks(rng, type_name, blocks):
    """Random blocks with their f16 scales drawn from a realistic range (some blocks with larger scales)."""
    block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]][1]
    raw = rng.integers(0, 256, size=(blocks, block_bytes), dtype=np.uint8)
    for at in HALF_FIELDS.get(type_name, []):
        scales = (rng.uniform(1e-4, 4e-3, blocks) * np.where(rng.random(blocks) < 0.02, 50, 1)).astype("<f2")
        raw[:, at:at + 2] = scales.view(np.uint8).reshape(blocks, 2)
    if type_name == "MXFP4":
        raw[:, 0] = rng.integers(115, 125, blocks)
    return raw


def make_fixtures(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261125)

    writer = GGUFWriter(out / "quantized.gguf", "llama")
    writer.add_block_count(1)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_token_list([f"tok{i}" for i in range(300)])
    writer.add_tensor("plain_f32", rng.standard_normal((8, 64)).astype(np.float32))
    writer.add_tensor("plain_f16", rng.standard_normal((4, 32)).astype(np.float16))
    writer.add_tensor("norm", (1 + 0.1 * rng.standard_normal(64)).astype(np.float32))
    real = rng.standard_normal((16, 256)).astype(np.float32) * 0.02
    for qtype in (GGMLQuantizationType.Q4_0, GGMLQuantizationType.Q5_1, GGMLQuantizationType.Q8_0, GGMLQuantizationType.BF16):
        writer.add_tensor(f"quantized_{qtype.name.lower()}", quants.quantize(real, qtype), raw_dtype=qtype)
    for name in dequantizable():
        block_elements = GGML_QUANT_SIZES[GGMLQuantizationType[name]][0]
        raw = random_blocks(rng, name, 3 * 1024 // block_elements)
        writer.add_tensor(f"random_{name.lower()}", raw.reshape(3, -1), raw_dtype=GGMLQuantizationType[name])
    write(writer)

    split = GGUFWriter(out / "split.gguf", "llama", split_max_tensors=2)
    split.add_name("split set")
    for i in range(5):
        split.add_tensor(f"blk.{i}.w", rng.standard_normal((4, 32)).astype(np.float32))
    write(split)

    big = GGUFWriter(out / "big-endian.gguf", "llama", endianess=GGUFEndian.BIG)
    big.add_tensor("be_f32", rng.standard_normal((3, 5)).astype(np.float32))
    big.add_tensor("be_f16", rng.standard_normal((7,)).astype(np.float16))
    write(big)

    aligned = GGUFWriter(out / "aligned64.gguf", "llama")
    aligned.add_custom_alignment(64)
    aligned.add_tensor("a", rng.standard_normal((3,)).astype(np.float32))
    aligned.add_tensor("b", rng.standard_normal((5, 32)).astype(np.float32))
    write(aligned)


# ---- a GGUF next to the HF checkpoint it was converted from --------------------------------------------------------

LLAMA = {"hidden": 64, "heads": 4, "kv_heads": 2, "intermediate": 96, "vocab": 40, "layers": 2}
# HF name → (HF dtype, GGUF type) of the converted model; Q/K of layer 0 stay F32 (the permutation undone exactly).
LLAMA_TYPES = {
    "model.embed_tokens.weight": ("F32", "Q8_0"), "lm_head.weight": ("F32", "Q4_0"), "model.norm.weight": ("F32", "F32"),
    "input_layernorm": ("F32", "F32"), "post_attention_layernorm": ("F32", "F32"),
    "0.self_attn.q_proj": ("F32", "F32"), "0.self_attn.k_proj": ("F32", "F32"),
    "1.self_attn.q_proj": ("F32", "Q8_0"), "1.self_attn.k_proj": ("F16", "F16"),
    "v_proj": ("F32", "Q5_1"), "o_proj": ("BF16", "BF16"), "gate_proj": ("F32", "Q8_0"), "up_proj": ("F32", "Q4_1"),
    "down_proj": ("F32", "F16"),
}


def llama_permute(weights, n_head, n_head_kv):
    """convert_hf_to_gguf.py's LlamaModel.permute, verbatim."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def converter_permutation(hf_name, metadata):
    """The heads LlamaModel.modify_tensors permutes an HF tensor's rows with, or None."""
    if metadata.get("general.architecture") != "llama":
        return None
    heads, kv_heads = metadata["llama.attention.head_count"], metadata["llama.attention.head_count_kv"]
    if hf_name.endswith(("q_proj.weight", "q_proj.bias")):
        return heads, heads
    if hf_name.endswith(("k_proj.weight", "k_proj.bias")):
        return heads, kv_heads
    return None


def make_llama(out):
    from reference import write_file

    out = Path(out)
    (out / "hf").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261125)
    c = LLAMA
    head_dim = c["hidden"] // c["heads"]
    shapes = {"model.embed_tokens.weight": (c["vocab"], c["hidden"])}
    for layer in range(c["layers"]):
        h = f"model.layers.{layer}"
        shapes.update({
            f"{h}.input_layernorm.weight": (c["hidden"],),
            f"{h}.self_attn.q_proj.weight": (c["hidden"], c["hidden"]),
            f"{h}.self_attn.k_proj.weight": (c["kv_heads"] * head_dim, c["hidden"]),
            f"{h}.self_attn.v_proj.weight": (c["kv_heads"] * head_dim, c["hidden"]),
            f"{h}.self_attn.o_proj.weight": (c["hidden"], c["hidden"]),
            f"{h}.post_attention_layernorm.weight": (c["hidden"],),
            f"{h}.mlp.gate_proj.weight": (c["intermediate"], c["hidden"]),
            f"{h}.mlp.up_proj.weight": (c["intermediate"], c["hidden"]),
            f"{h}.mlp.down_proj.weight": (c["hidden"], c["intermediate"]),
        })
    shapes["model.norm.weight"] = (c["hidden"],)
    shapes["lm_head.weight"] = (c["vocab"], c["hidden"])

    def types_of(name):
        return next(v for k, v in LLAMA_TYPES.items() if k in name)

    hf_tensors, hf_values = [], {}
    for name, shape in shapes.items():
        x = rng.standard_normal(shape) * 0.05 + (1.0 if "norm" in name else 0.0)
        hf_type = types_of(name)[0]
        if hf_type == "BF16":
            bits = x.astype(np.float32).view(np.uint32)
            raw = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
            hf_values[name] = (raw.astype(np.uint32) << 16).view(np.float32)
            hf_tensors.append((name, "BF16", shape, raw.tobytes()))
        else:
            stored = x.astype("<f4" if hf_type == "F32" else "<f2")
            hf_values[name] = stored.astype(np.float32)
            hf_tensors.append((name, hf_type, shape, stored.tobytes()))
    hf_tensors.insert(2, ("model.layers.0.self_attn.rotary_emb.inv_freq", "F32", (8,), np.ones(8, "<f4").tobytes()))
    write_file(out / "hf" / "model.safetensors", hf_tensors, {"format": "pt"})

    writer = GGUFWriter(out / "model.gguf", "llama")
    writer.add_block_count(c["layers"])
    writer.add_embedding_length(c["hidden"])
    writer.add_head_count(c["heads"])
    writer.add_head_count_kv(c["kv_heads"])
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, c["layers"])
    metadata = {"general.architecture": "llama", "llama.attention.head_count": c["heads"], "llama.attention.head_count_kv": c["kv_heads"]}
    for name, values in hf_values.items():
        heads = converter_permutation(name, metadata)
        data = llama_permute(values, *heads) if heads else values
        gguf_type = GGMLQuantizationType[types_of(name)[1]]
        gguf_name = name_map.get_name(name, try_suffixes=(".weight", ".bias"))
        if gguf_type == GGMLQuantizationType.F32:
            writer.add_tensor(gguf_name, np.ascontiguousarray(data, dtype=np.float32))
        elif gguf_type == GGMLQuantizationType.F16:
            writer.add_tensor(gguf_name, np.ascontiguousarray(data, dtype=np.float16))
        else:
            writer.add_tensor(gguf_name, quants.quantize(np.ascontiguousarray(data, dtype=np.float32), gguf_type), raw_dtype=gguf_type)
    writer.add_tensor("rope_freqs.weight", np.ones(head_dim // 2, dtype=np.float32))
    write(writer)


def hf_from_gguf(gguf_path, out):
    """Undoes a conversion: each tensor under its HF name (transformers' Llama spelling), Q/K rows un-permuted."""
    import re

    from reference import write_file

    reader = GGUFReader(gguf_path)
    metadata = {"general.architecture": "llama"}
    for key in ("llama.attention.head_count", "llama.attention.head_count_kv", "llama.block_count"):
        metadata[key] = int(reader.fields[key].parts[-1][0])
    candidates = {}
    for hf_name, (_, gguf_name) in gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, metadata["llama.block_count"]).mapping.items():
        candidates.setdefault(gguf_name, []).append(hf_name)
    llama = re.compile(r"model\.(embed_tokens|norm|layers\.\d+\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj|input_layernorm|"
                       r"post_attention_layernorm))|lm_head")
    tensors = []
    for t in reader.tensors:
        stem, suffix = t.name.rsplit(".", 1)
        hf_name = next(c for c in candidates[stem] if llama.fullmatch(c)) + "." + suffix
        shape = [int(d) for d in reversed(t.shape.tolist())]
        data = np.asarray(t.data).reshape(shape)
        heads = converter_permutation(hf_name, metadata)
        if heads:
            n = heads[1]
            source = data.reshape(n, data.shape[0] // n // 2, 2, *data.shape[1:]).swapaxes(1, 2).reshape(data.shape)
            assert np.array_equal(llama_permute(source, *heads), data)
            data = source
        tensors.append((hf_name, t.tensor_type.name, shape, np.ascontiguousarray(data).tobytes()))
    write_file(out, tensors, {"format": "pt"})


def diff_hf(a_path, b_path):
    """The diff document of a GGUF file and an HF safetensors file, pairs found by gguf-py's tensor name map."""
    from compare_reference import align, pair_stats, read_tensors, values

    gguf_first = a_path.endswith(".gguf")
    gguf_path, hf_path = (a_path, b_path) if gguf_first else (b_path, a_path)
    reader = GGUFReader(gguf_path)
    metadata = {"general.architecture": "llama"}
    for key in ("llama.attention.head_count", "llama.attention.head_count_kv", "llama.block_count"):
        metadata[key] = int(reader.fields[key].parts[-1][0])
    # name → (dtype, shape, float64 values in the GGUF's element order, raw bytes in that order)
    g = {t.name: (t.tensor_type.name, [int(d) for d in reversed(t.shape.tolist())], values_of(t)) for t in reader.tensors}
    hf_raw = read_tensors(hf_path)
    hf = {}
    for name, t in hf_raw.items():
        v = values(t).reshape(t[1]) if t[1] else values(t)
        heads = converter_permutation(name, metadata)
        hf[name] = (t[0], t[1], (llama_permute(v, *heads) if heads else v).reshape(-1))
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, metadata["llama.block_count"])
    sides = (g, hf) if gguf_first else (hf, g)
    pairs = align(list(sides[0]), list(sides[1]))
    converted = {name_map.get_name(n, try_suffixes=(".weight", ".bias")): n for n in hf if n not in set(pairs.values()) | set(pairs)}
    for gname in g:
        if gname in pairs or gname in pairs.values() or gname not in converted:
            continue
        if gguf_first:
            pairs[gname] = converted[gname]
        else:
            pairs[converted[gname]] = gname
    a, b = sides
    report = {"a": {"path": a_path}, "b": {"path": b_path},
              "only_a": [n for n in a if n not in pairs], "only_b": [n for n in b if n not in set(pairs.values())],
              "mismatched": [], "tensors": []}
    for na in a:
        if na not in pairs:
            continue
        (da, sa, va), (db, sb, vb) = a[na], b[pairs[na]]
        if sa != sb or da != db:
            report["mismatched"].append({"name": na, "shape_a": sa, "shape_b": sb, "dtype_a": da, "dtype_b": db})
        if sa != sb:
            continue
        identical = da == db and va.tobytes() == vb.tobytes()
        report["tensors"].append({"name": na, "shape": sa, "dtype_a": da, "dtype_b": db, **pair_stats(va, vb, identical)})
    return report


def write(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "stats" and len(sys.argv) == 3:
        print(json.dumps(stats_document(sys.argv[2])))
    elif command == "dequant" and len(sys.argv) == 5:
        dequant(*sys.argv[2:])
    elif command == "blocks" and len(sys.argv) == 4:
        print(json.dumps(blocks_document(sys.argv[2], int(sys.argv[3]))))
    elif command == "types":
        print("\n".join(dequantizable()))
    elif command == "make-fixtures" and len(sys.argv) == 3:
        make_fixtures(sys.argv[2])
    elif command == "make-llama" and len(sys.argv) == 3:
        make_llama(sys.argv[2])
    elif command == "hf-from-gguf" and len(sys.argv) == 4:
        hf_from_gguf(sys.argv[2], sys.argv[3])
    elif command == "diff-hf" and len(sys.argv) == 4:
        print(json.dumps(diff_hf(sys.argv[2], sys.argv[3])))
    else:
        sys.exit(__doc__)
