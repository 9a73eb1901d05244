#!/usr/bin/env python3
"""Independent float64 references for `weightscope saliency`, and seeded fixtures in every activation format.

    saliency_reference.py make-fixtures DIR
        a safetensors model (F32, BF16, F16, a 4-D convolution, planted ties, NaN and a zero column), a GGUF model
        (F32, F16, Q8_0, Q4_K) and activation statistics for both: a GGUF importance matrix written by gguf-py's
        GGUFWriter (llama.cpp names, so the safetensors model is matched through the name table), the legacy .dat
        built byte by byte as llama.cpp's save_imatrix_legacy lays it out, a safetensors file in the documented
        layout, the same layout in a NumPy .npz, and SmoothQuant-style act_scales (bare module names) as safetensors
        and as a torch.save zip written without torch (torch_reference.py's pickler)
    saliency_reference.py make-imatrix MODEL OUT
        a GGUF importance matrix with seeded Σx² for every matrix of MODEL (a real checkpoint), under its own names
    saliency_reference.py weighted-quant MODEL ACTIVATIONS SCHEME...
        per weight with statistics: Σ_j H_jj Σ_i w_ij² and, per scheme, Σ_j H_jj Σ_i (w_ij − ŵ_ij)² with H_jj = Σx_j² (OBS's
        factor) and ŵ from reference_quant.py's quantizers
    saliency_reference.py saliency MODEL METHOD TOP ALPHA [ACTIVATIONS]
        the `saliency --json` document computed with numpy in float64: weights read by this script (safetensors
        parsed by hand, GGUF by gguf-py and gguf.quants.dequantize), activation files parsed by this script
    saliency_reference.py make-lift DIR
        lift.safetensors (8 leading singular values plus small noise: F32, F64, F16, a 3-D tensor; one of rank 2) and
        lift_base.safetensors (the same tensors with a few percent of the elements changed)
    saliency_reference.py lift MODEL TOP RANK
        `saliency --method lift --json` with W_r from numpy's exact SVD (np.linalg.svd, truncated to rank r)
    saliency_reference.py lift-overlaps MODEL RANK [BASE]
        per weight: the principal weights (top 5 % by |W_r|: ceil(n/20) of the n scores that are not NaN, ties to the
        earlier element), and how many of them are also in the top 5 % by |W| and by |W − W_base|
"""
import json
import math
import re
import struct
import sys
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------------------------------------------
# Reading weights

ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1"}


def read_safetensors(path):
    """(name, dtype, shape, float64 values or None when not a float type) in header order."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a : base + b]
        dtype = info["dtype"]
        if dtype == "BF16":
            bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            values = bits.view(np.float32).astype(np.float64)
        elif dtype in ("F64", "F32", "F16"):
            values = np.frombuffer(raw, ST_DTYPES[dtype]).astype(np.float64)
        else:
            values = None
        out.append((name, dtype, list(info["shape"]), values))
    return out


def read_gguf(path):
    from gguf import GGUFReader, quants

    reader = GGUFReader(path)
    out = []
    for t in reader.tensors:
        shape = [int(d) for d in reversed(t.shape.tolist())]
        raw = np.asarray(t.data)
        if t.tensor_type.name in ("F32", "F16", "F64"):
            values = raw.reshape(-1).astype(np.float64)
        else:
            values = quants.dequantize(raw.reshape(-1).view(np.uint8), t.tensor_type).reshape(-1).astype(np.float64)
        out.append((t.name, t.tensor_type.name, shape, values))
    return out


def read_model(path):
    return read_gguf(path) if str(path).endswith(".gguf") else read_safetensors(path)


# ---------------------------------------------------------------------------------------------------------------
# Reading activation statistics (independently of the TypeScript importers)

LAYOUT = {".act_l2": "l2", ".act_mean_abs": "meanAbs", ".act_max_abs": "maxAbs"}


def layout_entries(tensors):
    """[(entry name, {statistic: vector})] from (name, float64 vector) pairs in the documented layout."""
    entries = {}
    for name, values in tensors:
        stat, base = "maxAbs", name
        for suffix, s in LAYOUT.items():
            if name.endswith(suffix):
                stat, base = s, name[: -len(suffix)]
        entries.setdefault(base, {})[stat] = values
    return list(entries.items())


def read_torch_vectors(path):
    """(name, float64 values) of a torch.save zip, by torch_reference.py's stub unpickler (nothing imported or run)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import torch_reference

    torch_reference.stats = lambda values: values  # keep the decoded values instead of summarizing them
    return [(t["name"], np.asarray(t["stats"], dtype=np.float64)) for t in torch_reference.read_file(path)["tensors"]]


def read_activations(path):
    """[(entry name, {statistic: float64 vector})] in file order."""
    path = str(path)
    head = Path(path).read_bytes()[:8]
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as npz:
            return layout_entries([(k, npz[k].astype(np.float64)) for k in npz.files])
    if path.endswith(".pt"):
        return layout_entries(read_torch_vectors(path))
    if head[:4] == b"GGUF":
        from gguf import GGUFReader

        reader = GGUFReader(path)
        tensors = {t.name: np.asarray(t.data, dtype=np.float64).reshape(-1) for t in reader.tensors}
        names = [t.name[: -len(".in_sum2")] for t in reader.tensors if t.name.endswith(".in_sum2")]
        return [(n, {"sumSquares": tensors[n + ".in_sum2"]}) for n in names]
    if path.endswith(".safetensors"):
        return layout_entries([(name, values) for name, _, _, values in read_safetensors(path)])
    data = Path(path).read_bytes()
    (count,) = struct.unpack_from("<i", data, 0)
    at = 4
    entries = []
    for _ in range(count):
        (length,) = struct.unpack_from("<i", data, at)
        name = data[at + 4 : at + 4 + length].decode()
        at += 4 + length
        ncall, nval = struct.unpack_from("<ii", data, at)
        at += 8
        values = np.frombuffer(data, "<f4", nval, at).astype(np.float64)
        at += 4 * nval
        entries.append((name, {"sumSquares": values / ncall}))
    return entries


# llama.cpp ↔ Hugging Face names, as the formats issue lists them.
NAME_TABLE = [
    ("token_embd", "model.embed_tokens"), ("output_norm", "model.norm"), ("output", "lm_head"),
    ("blk.{n}.attn_norm", "model.layers.{n}.input_layernorm"), ("blk.{n}.attn_q", "model.layers.{n}.self_attn.q_proj"),
    ("blk.{n}.attn_k", "model.layers.{n}.self_attn.k_proj"), ("blk.{n}.attn_v", "model.layers.{n}.self_attn.v_proj"),
    ("blk.{n}.attn_output", "model.layers.{n}.self_attn.o_proj"), ("blk.{n}.ffn_norm", "model.layers.{n}.post_attention_layernorm"),
    ("blk.{n}.ffn_gate", "model.layers.{n}.mlp.gate_proj"), ("blk.{n}.ffn_up", "model.layers.{n}.mlp.up_proj"),
    ("blk.{n}.ffn_down", "model.layers.{n}.mlp.down_proj"),
]


def translate(name, forward):
    m = re.match(r"^(.*?)(\.weight|\.bias)?$", name)
    stem, suffix = m.group(1), m.group(2) or ""
    for a, b in NAME_TABLE:
        src, dst = (a, b) if forward else (b, a)
        pattern = "^" + re.escape(src).replace(r"\{n\}", r"(\d+)") + "$"
        hit = re.match(pattern, stem)
        if hit:
            return dst.replace("{n}", hit.group(1) if hit.groups() else "") + suffix
    return None


def candidates(name):
    direct = [name] if name.endswith(".weight") else [name, name + ".weight"]
    out = list(direct)
    for n in direct:
        hf = translate(n, True)
        gg = translate(n, False) or translate("model." + n, False)
        out += [hf, hf[len("model.") :] if hf and hf.startswith("model.") else hf, gg]
    seen = []
    for c in out:
        if c is not None and c not in seen:
            seen.append(c)
    return seen


# ---------------------------------------------------------------------------------------------------------------
# Saliency in float64

FACTORS = {
    "wanda": [("sumSquares", np.sqrt), ("l2", lambda v: v)],
    "awq": [("meanAbs", lambda v: v)],
    "smoothquant": [("maxAbs", lambda v: v)],
    "obs": [("sumSquares", lambda v: v), ("l2", lambda v: v * v)],
}


def column_sums(S):
    acc = np.zeros(S.shape[1])
    for row in S:
        acc = acc + row
    return acc


def truncated(W, rank):
    """W_r, the rank-r truncation of W's SVD."""
    U, S, Vt = np.linalg.svd(W, full_matrices=False)
    r = min(rank, len(S))
    return (U[:, :r] * S[:r]) @ Vt[:r]


def scores(method, W, a, alpha, rank=8):
    """(weight scores as a matrix, channel scores)."""
    with np.errstate(all="ignore"):
        if method == "lift":
            P = np.abs(truncated(W, rank))
            return P, P.max(axis=0)
        A = np.abs(W)
        if method == "magnitude":
            return A, A.max(axis=0)
        if method == "wanda":
            S = A * a
            return S, column_sums(S)
        if method == "awq":
            return A * a, a
        if method == "obs":
            S = W * W * a
            return S, column_sums(S)
        if method == "smoothquant":
            s = np.power(a, alpha) / np.power(A.max(axis=0), 1.0 - alpha)
            return np.abs(W * s), s
    raise ValueError(method)


def ranked(values, top):
    """(position, value) by decreasing value, ties to the lower position, NaN left out; the first `top` (None: all)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    index = np.nonzero(~np.isnan(values))[0]
    order = np.lexsort((index, -values[index]))
    return [(int(index[i]), float(values[index[i]])) for i in order[:top]]


def finite(x):
    return x if math.isfinite(x) else None


def saliency(model, method, top, alpha, activations=None, rank=8):
    weights = read_model(model)
    names = [w[0] for w in weights]
    entries = read_activations(activations) if activations else []
    by_tensor, unmatched = {}, []
    for e, (name, _) in enumerate(entries):
        hit = next((c for c in candidates(name) if c in names), None)
        if hit is None or hit in by_tensor:
            unmatched.append(name)
        else:
            by_tensor[hit] = e
    tensors = []
    for name, dtype, shape, values in weights:
        if values is None or len(shape) < 2 or values.size == 0:
            continue
        W = values.reshape(shape[0], -1)
        a = None
        if method in FACTORS:
            if name not in by_tensor:
                continue
            stats = entries[by_tensor[name]][1]
            source = next(((s, f) for s, f in FACTORS[method] if s in stats), None)
            if source is None or stats[source[0]].size != W.shape[1]:
                continue
            a = source[1](stats[source[0]])
        S, channels = scores(method, W, a, alpha, rank)
        cols = W.shape[1]
        tensors.append({
            "name": name,
            "top_channels": [{"index": j, "score": finite(s)} for j, s in ranked(channels, top)],
            "top_weights": [{"row": i // cols, "col": i % cols, "score": finite(s)} for i, s in ranked(S, top)],
        })
    return {"method": method, "tensors": tensors, "unmatched": unmatched}


def top_share(values):
    """The set of positions of the top 5 %: ceil(n/20) of the n values that are not NaN, ties to the earlier."""
    ranking = ranked(values, None)
    return {i for i, _ in ranking[: (len(ranking) + 19) // 20]}


def lift_overlaps(model, rank, base=None):
    bases = {name: values for name, _, _, values in read_model(base)} if base else {}
    result = {}
    for name, _, shape, values in read_model(model):
        if values is None or len(shape) < 2 or values.size == 0:
            continue
        W = values.reshape(shape[0], -1)
        principal = top_share(np.abs(truncated(W, rank)))
        row = {"principal": len(principal), "with_magnitude": len(principal & top_share(np.abs(W)))}
        if name in bases:
            row["with_delta"] = len(principal & top_share(np.abs(W - bases[name].reshape(W.shape))))
        result[name] = row
    return result


def matched_factors(model, activations, method):
    """{weight name: (matrix, a_j)} for the weights the statistics cover with the right length."""
    weights = read_model(model)
    names = [w[0] for w in weights]
    entries = read_activations(activations)
    by_tensor = {}
    for e, (name, _) in enumerate(entries):
        hit = next((c for c in candidates(name) if c in names), None)
        if hit is not None and hit not in by_tensor:
            by_tensor[hit] = e
    out = {}
    for name, _, shape, values in weights:
        if values is None or len(shape) < 2 or values.size == 0 or name not in by_tensor:
            continue
        W = values.reshape(shape[0], -1)
        stats = entries[by_tensor[name]][1]
        source = next(((s, f) for s, f in FACTORS[method] if s in stats), None)
        if source is not None and stats[source[0]].size == W.shape[1]:
            out[name] = (W, source[1](stats[source[0]]))
    return out


def weighted_quant(model, activations, schemes):
    sys.path.insert(0, str(Path(__file__).parent))
    from reference_quant import SCHEMES, group_blocks, reconstruct

    result = {}
    for name, (m, h) in matched_factors(model, activations, "obs").items():
        finite = np.isfinite(m)
        values = np.where(finite, m, 0.0)
        weights = np.broadcast_to(h, m.shape)
        tensor_absmax = float(np.abs(m[finite]).max()) if finite.any() else 0.0
        row = {"signal": float((weights * values * values).sum())}
        for scheme in schemes:
            if SCHEMES[scheme][0] in ("q8_0", "q4_0") and m.shape[1] % 32:
                continue
            g = SCHEMES[scheme][2] or m.shape[1]
            squared = 0.0
            for b, r, a in zip(group_blocks(values, g), group_blocks(finite, g), group_blocks(np.ascontiguousarray(weights), g)):
                e = np.where(r, b - reconstruct(scheme, b, r, tensor_absmax), 0.0)
                squared += float((a * e * e).sum())
            row[scheme] = squared
        result[name] = row
    return result


# ---------------------------------------------------------------------------------------------------------------
# Fixtures


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, dtype, array in tensors:
        if dtype == "BF16":
            raw = (np.asarray(array, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = np.asarray(array, ST_DTYPES[dtype]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(np.shape(array)), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_dat(path, entries, chunk_count=7, dataset="calibration.txt"):
    """entries: [(name, ncall, float32 values)], laid out as llama.cpp's save_imatrix_legacy writes them."""
    out = struct.pack("<i", len(entries))
    for name, ncall, values in entries:
        raw = name.encode()
        out += struct.pack("<i", len(raw)) + raw + struct.pack("<ii", ncall, len(values)) + np.asarray(values, "<f4").tobytes()
    out += struct.pack("<i", chunk_count) + struct.pack("<i", len(dataset)) + dataset.encode()
    Path(path).write_bytes(out)


def write_imatrix(path, sums):
    """sums: {weight name: float32 Σx² vector}, written as llama-imatrix writes them (sorted names)."""
    from gguf import GGUFWriter

    writer = GGUFWriter(path, "")
    writer.add_string("general.type", "imatrix")
    writer.add_array("imatrix.datasets", ["calibration.txt"])
    writer.add_uint32("imatrix.chunk_count", 7)
    writer.add_uint32("imatrix.chunk_size", 512)
    for name in sorted(sums):
        writer.add_tensor(f"{name}.in_sum2", sums[name].reshape(1, -1))
        writer.add_tensor(f"{name}.counts", np.array([[3584.0]], np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def make_imatrix(model, out):
    rng = np.random.default_rng(7)
    sums = {}
    for name, _, shape, values in read_model(model):
        if values is not None and len(shape) >= 2 and values.size > 0:
            sums[name] = (rng.random(values.size // shape[0]) * 100).astype(np.float32)
    write_imatrix(out, sums)


def write_act_scales_pt(path, scales):
    """torch.save({module: half tensor}) as SmoothQuant's generate_act_scales.py writes it, without torch."""
    from collections import OrderedDict

    sys.path.insert(0, str(Path(__file__).parent))
    import torch_reference

    utils, storages, _, _ = torch_reference.fake_torch()
    state = OrderedDict()
    for key, (module, values) in enumerate(scales.items()):
        storage = torch_reference.FakeStorage(storages["HalfStorage"], str(key), values.tobytes(), 2)
        state[module] = torch_reference.FakeTensor(utils._rebuild_tensor_v2, storage, 0, [values.size], [1])
    torch_reference.write_torch_zip(path, state, "act_scales")


def make_fixtures(out):
    from gguf import GGMLQuantizationType, GGUFWriter, quants

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240607)
    ties = rng.integers(-3, 4, size=(16, 24)).astype(np.float32)
    ties[:, 5] = 0  # a zero column: SmoothQuant's s_j = x^α / 0 = Inf
    ties[2, 7] = np.nan
    model = [
        ("model.layers.0.self_attn.q_proj.weight", "F32", rng.standard_normal((24, 40)).astype(np.float32)),
        ("model.layers.0.mlp.down_proj.weight", "BF16", rng.standard_normal((40, 56)).astype(np.float32) * 0.02),
        ("model.layers.0.mlp.up_proj.weight", "F16", rng.standard_normal((56, 40)).astype(np.float16)),
        ("model.layers.1.self_attn.o_proj.weight", "F32", ties),
        ("model.layers.1.mlp.gate_proj.weight", "F32", rng.standard_normal((8, 24)).astype(np.float32)),
        ("conv.weight", "F32", rng.standard_normal((6, 3, 2, 2)).astype(np.float32)),
        ("model.norm.weight", "F32", np.ones(40, np.float32)),
        ("position_ids", "I64", np.arange(6).reshape(2, 3)),
    ]
    write_safetensors(out / "model.safetensors", model)

    # Per input channel statistics for the HF model's weights (cols 40, 56, 40, 24), keyed by llama.cpp names.
    llama = {
        "blk.0.attn_q.weight": 40, "blk.0.ffn_down.weight": 56, "blk.0.ffn_up.weight": 40, "blk.1.attn_output.weight": 24,
    }
    sums = {n: (rng.random(c) * 50).astype(np.float32) for n, c in llama.items()}
    sums["blk.1.attn_output.weight"][3] = 0  # a dead channel
    # Two more entries: one for no weight of the model, one whose length (41) is not its weight's 24 columns.
    extra = {"blk.9.attn_k.weight": (rng.random(40) * 3).astype(np.float32), "blk.1.ffn_gate.weight": (rng.random(41)).astype(np.float32)}
    write_imatrix(out / "imatrix.gguf", {**sums, **extra})
    write_dat(out / "imatrix.dat", [(n, 7, sums[n] / np.float32(512)) for n in sorted(sums)] + [("blk.9.attn_k.weight", 3, extra["blk.9.attn_k.weight"])])

    hf_cols = {"model.layers.0.self_attn.q_proj": 40, "model.layers.0.mlp.down_proj": 56, "model.layers.0.mlp.up_proj": 40, "model.layers.1.self_attn.o_proj": 24, "conv": 12}
    layout = []
    for module, c in hf_cols.items():
        layout.append((f"{module}.weight.act_l2", "F32", (rng.random(c) * 20).astype(np.float32)))
        layout.append((f"{module}.weight.act_mean_abs", "F16", (rng.random(c) * 2).astype(np.float16)))
        layout.append((f"{module}.weight.act_max_abs", "F64", rng.random(c) * 40))
    layout.append(("model.layers.7.mlp.gate_proj.weight.act_l2", "F32", np.ones(40, np.float32)))
    write_safetensors(out / "stats.safetensors", layout)
    write_safetensors(out / "act_scales.safetensors", [(m, "F32", (rng.random(c) * 30).astype(np.float32)) for m, c in hf_cols.items()])
    npz = {
        f"{module}.weight.{stat}": (rng.random(c) * 20).astype(dtype)
        for module, c in hf_cols.items() for stat, dtype in (("act_l2", "<f4"), ("act_mean_abs", "<f8"), ("act_max_abs", "<f2"))
    }
    np.savez(out / "stats.npz", **npz)
    np.savez_compressed(out / "stats_compressed.npz", **{k: v[::-1].copy() for k, v in npz.items()})
    write_act_scales_pt(out / "act_scales.pt", {m: (rng.random(c) * 30).astype("<f2") for m, c in hf_cols.items()})

    gguf_model = GGUFWriter(out / "model.gguf", "llama")
    gguf_model.add_uint32("llama.attention.head_count", 2)
    gguf_model.add_tensor("token_embd.weight", rng.standard_normal((50, 64)).astype(np.float32))
    gguf_model.add_tensor("blk.0.attn_q.weight", quants.quantize(rng.standard_normal((24, 64)).astype(np.float32), GGMLQuantizationType.Q8_0), raw_dtype=GGMLQuantizationType.Q8_0)
    # gguf-py cannot quantize to Q4_K: random blocks (8 rows of one 144-byte block) with sane f16 d and dmin.
    q4k = rng.integers(0, 256, size=(8, 144), dtype=np.uint8)
    q4k[:, 0:2] = np.frombuffer(np.float16(0.01).tobytes(), np.uint8)
    q4k[:, 2:4] = np.frombuffer(np.float16(0.004).tobytes(), np.uint8)
    gguf_model.add_tensor("blk.0.ffn_up.weight", q4k, raw_dtype=GGMLQuantizationType.Q4_K)
    gguf_model.add_tensor("blk.0.ffn_down.weight", rng.standard_normal((64, 8)).astype(np.float16))
    gguf_model.add_tensor("output_norm.weight", np.ones(64, np.float32))
    gguf_model.write_header_to_file()
    gguf_model.write_kv_data_to_file()
    gguf_model.write_tensors_to_file()
    gguf_model.close()
    # act_scales keyed by HF module names, for the GGUF model (matched through the name table the other way).
    write_safetensors(out / "gguf_act_scales.safetensors", [
        ("model.layers.0.self_attn.q_proj", "F32", (rng.random(64) * 9).astype(np.float32)),
        ("model.layers.0.mlp.up_proj", "F32", (rng.random(256) * 9).astype(np.float32)),
        ("model.layers.0.mlp.down_proj", "F32", (rng.random(8) * 9).astype(np.float32)),
        ("model.embed_tokens", "F32", (rng.random(64) * 9).astype(np.float32)),
    ])
    write_dat(out / "gguf_imatrix.dat", [
        ("blk.0.attn_q.weight", 5, (rng.random(64) * 9).astype(np.float32)),
        ("blk.0.ffn_up.weight", 5, (rng.random(256) * 9).astype(np.float32)),
        ("blk.0.ffn_down.weight", 5, (rng.random(8) * 9).astype(np.float32)),
    ])


def make_lift(out):
    """Matrices of 8 leading singular values (or fewer, exactly) and noise far below them: for r ≤ 8 the randomized
    SVD's sketch of r + 8 columns then holds the leading r directions to rounding, and its rank-r part is numpy's."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20251125)

    def low_rank(rows, cols, sigma, noise):
        U = np.linalg.qr(rng.standard_normal((rows, len(sigma))))[0]
        V = np.linalg.qr(rng.standard_normal((cols, len(sigma))))[0]
        return (U * sigma) @ V.T + noise * rng.standard_normal((rows, cols))

    model = [
        ("layers.0.q_proj.weight", "F32", low_rank(96, 64, [40, 25, 15, 10, 6, 4, 3, 2.5], 1e-4).astype(np.float32)),
        ("layers.0.o_proj.weight", "F64", low_rank(40, 100, [9, 5, 3, 2, 1.5, 1.2, 1, 0.8], 1e-6)),
        ("layers.0.up_proj.weight", "F16", low_rank(72, 48, [30, 20, 12, 9, 6, 4, 3, 2], 0).astype(np.float16)),
        ("layers.0.experts.weight", "F32", low_rank(8, 120, [5, 2, 1], 1e-5).astype(np.float32).reshape(8, 12, 10)),
        ("layers.0.gate.weight", "F64", low_rank(30, 20, [4, 2], 0)),  # rank 2 < r
        ("norm.weight", "F32", np.ones(20, np.float32)),
    ]
    write_safetensors(out / "lift.safetensors", model)
    base = []
    for name, dtype, values in model:
        changed = np.array(values, copy=True)
        if changed.ndim >= 2:
            flat = changed.reshape(-1)
            where = rng.choice(flat.size, size=max(1, flat.size * 3 // 100), replace=False)  # 3 % changed: ties at 0
            flat[where] = flat[where] - (0.05 * rng.standard_normal(where.size)).astype(flat.dtype)
        base.append((name, dtype, changed))
    write_safetensors(out / "lift_base.safetensors", base)


# ---------------------------------------------------------------------------------------------------------------

def main(argv):
    command = argv[1]
    if command == "make-fixtures":
        make_fixtures(argv[2])
    elif command == "make-imatrix":
        make_imatrix(argv[2], argv[3])
    elif command == "weighted-quant":
        print(json.dumps(weighted_quant(argv[2], argv[3], argv[4:])))
    elif command == "make-lift":
        make_lift(argv[2])
    elif command == "lift":
        print(json.dumps(saliency(argv[2], "lift", int(argv[3]), 0.0, rank=int(argv[4]))))
    elif command == "lift-overlaps":
        print(json.dumps(lift_overlaps(argv[2], int(argv[3]), argv[4] if len(argv) > 4 else None)))
    elif command == "saliency":
        model, method, top, alpha = argv[2], argv[3], int(argv[4]), float(argv[5])
        activations = argv[6] if len(argv) > 6 else None
        print(json.dumps(saliency(model, method, top, alpha, activations)))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
