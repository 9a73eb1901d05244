#!/usr/bin/env python3
"""Independent float64 references for `weightscope diff` and `weightscope merge`, and their seeded fixtures.

    compare_reference.py make-finetunes DIR            a base, three fine-tunes with known low-rank deltas and frozen
                                                       layers, a renamed/mismatched copy, and a LoRA adapter pair
    compare_reference.py diff A B [--lora CFG_A CFG_B] JSON in the CLI's shape (--lora: the adapters' ΔW)
    compare_reference.py lowrank A B NAME              singular values of B − A for one tensor (numpy SVD)
    compare_reference.py merge OUT_DIR METHOD PARAMS_JSON BASE MODEL...
                                                       the merge JSON on stdout; merged.safetensors and
                                                       masks.safetensors (F64 values / U8 masks) in OUT_DIR

Everything is decoded with reference.py's decoders and computed with numpy in float64, element by element in the
documented order where the order decides the last bit (sums over tasks run left to right).
"""
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from reference import ALIASES, BITS, decode, write_file  # noqa: E402

PREFIXES = ["base_model.model.", "model.", "transformer."]


def read_tensors(path):
    """name → (dtype, shape, raw bytes), in file order."""
    data = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        out[name] = (ALIASES.get(entry["dtype"], entry["dtype"]), entry["shape"], data[8 + n + begin:8 + n + end])
    return out


def values(t):
    dtype, shape, raw = t
    return decode(dtype, raw)[:int(np.prod(shape, dtype=np.int64))]


def stripped(name):
    while True:
        for p in PREFIXES:
            if name.startswith(p) and len(name) > len(p):
                name = name[len(p):]
                break
        else:
            return name


def align(a_names, b_names):
    """Exact names, then names equal after stripping prefixes (unique on each side among the unmatched)."""
    pairs = {n: n for n in a_names if n in b_names}
    free_a = [n for n in a_names if n not in pairs]
    used_b = set(pairs.values())
    free_b = [n for n in b_names if n not in used_b]

    def unique(names):
        keys = [stripped(n) for n in names]
        return {k: n for k, n in zip(keys, names) if keys.count(k) == 1}

    ua, ub = unique(free_a), unique(free_b)
    for key, name in ua.items():
        if key in ub:
            pairs[name] = ub[key]
    return pairs


def pair_stats(a, b, identical):
    n = a.size
    finite_a, finite_b = np.isfinite(a).all(), np.isfinite(b).all()
    d = b - a
    l2a = math.sqrt(float(np.sum(a * a))) if finite_a else None
    l2b = math.sqrt(float(np.sum(b * b))) if finite_b else None
    l2d = math.sqrt(float(np.sum(d * d))) if finite_a and finite_b else None
    cos = None
    if l2a and l2b:
        cos = max(-1.0, min(1.0, float(np.sum(a * b)) / (l2a * l2b)))
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    both = (a != 0) & (b != 0) & ~np.isnan(a) & ~np.isnan(b)
    flips = both & ((a < 0) != (b < 0))
    return {
        "l2_a": l2a, "l2_b": l2b, "l2_delta": l2d,
        "rel_delta": l2d / l2a if l2d is not None and l2a else None,
        "cosine": cos,
        "max_abs_delta": float(np.abs(d).max()) if l2d is not None and n else (0.0 if l2d is not None else None),
        "changed_fraction": float((~same).sum()) / n if n else None,
        "sign_flip_fraction": float(flips.sum()) / float(both.sum()) if both.sum() else None,
        "identical": identical,
    }


# ---- LoRA -------------------------------------------------------------------------------------------------------

def lora_items(tensors, config):
    """PEFT and MLX pairs → ΔW = scale·B·A (out × in); other tensors unchanged. name → (dtype, shape, values)."""
    items, used = {}, set()
    for name in tensors:
        for suffix_a, suffix_b, mlx in ((".lora_A.weight", ".lora_B.weight", False), (".lora_a", ".lora_b", True)):
            if name.endswith(suffix_a) and name[:-len(suffix_a)] + suffix_b in tensors:
                module = name[:-len(suffix_a)]
                a_t, b_t = tensors[name], tensors[module + suffix_b]
                a = values(a_t).reshape(a_t[1])
                b = values(b_t).reshape(b_t[1])
                if mlx:
                    a, b = a.T, b.T
                rank = a.shape[0]
                scale = 1.0
                if config is not None:
                    lp = config.get("lora_parameters")
                    if lp is not None:
                        scale = lp["scale"] * lp["alpha"] / lp["rank"] if "alpha" in lp else lp["scale"]
                    else:
                        scale = config["lora_alpha"] / config["r"]
                items[module + ".weight"] = (a_t[0], [b.shape[0], a.shape[1]], (scale * (b @ a)).reshape(-1))
                used.update([name, module + suffix_b])
    ordered = {}
    for name, t in tensors.items():
        if name in used:
            for suffix in (".lora_A.weight", ".lora_a"):
                if name.endswith(suffix):
                    key = name[:-len(suffix)] + ".weight"
                    ordered[key] = items[key]
        else:
            ordered[name] = (t[0], t[1], values(t))
    return ordered


def diff(a_path, b_path, lora_configs=None):
    ta, tb = read_tensors(a_path), read_tensors(b_path)
    if lora_configs:
        cfg = [json.loads(Path(c).read_text()) if c != "-" else None for c in lora_configs]
        ia, ib = lora_items(ta, cfg[0]), lora_items(tb, cfg[1])
        raw_identical = lambda na, nb: ia[na][0] == ib[nb][0] and ia[na][2].tobytes() == ib[nb][2].tobytes()  # noqa: E731
    else:
        ia = {n: (t[0], t[1], None) for n, t in ta.items()}
        ib = {n: (t[0], t[1], None) for n, t in tb.items()}
        raw_identical = lambda na, nb: ta[na][0] == tb[nb][0] and ta[na][2] == tb[nb][2]  # noqa: E731
    pairs = align(list(ia), list(ib))
    report = {"a": {"path": a_path}, "b": {"path": b_path},
              "only_a": [n for n in ia if n not in pairs],
              "only_b": [n for n in ib if n not in set(pairs.values())],
              "mismatched": [], "tensors": []}
    for na in ia:
        if na not in pairs:
            continue
        nb = pairs[na]
        (da, sa, va), (db, sb, vb) = ia[na], ib[nb]
        if sa != sb or da != db:
            report["mismatched"].append({"name": na, "shape_a": sa, "shape_b": sb, "dtype_a": da, "dtype_b": db})
        if sa != sb:
            continue
        if va is None:
            known = da in BITS and db in BITS
            va = values(ta[na]) if known else None
            vb = values(tb[nb]) if known else None
        entry = {"name": na, "shape": sa, "dtype_a": da, "dtype_b": db}
        if va is None:
            entry.update({k: None for k in ["l2_a", "l2_b", "l2_delta", "rel_delta", "cosine", "max_abs_delta",
                                            "changed_fraction", "sign_flip_fraction"]})
            entry["identical"] = raw_identical(na, nb)
        else:
            entry.update(pair_stats(va, vb, raw_identical(na, nb)))
        report["tensors"].append(entry)
    return report


def lowrank(a_path, b_path, name):
    ta, tb = read_tensors(a_path), read_tensors(b_path)
    shape = ta[name][1]
    d = (values(tb[name]) - values(ta[name])).reshape(shape[0], -1)
    return {"singular_values": [float(s) for s in np.linalg.svd(d, compute_uv=False)],
            "frobenius_squared": float(np.sum(d * d))}


# ---- merges -----------------------------------------------------------------------------------------------------

def mix64(z):
    m = (1 << 64) - 1
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & ((1 << 64) - 1)
    return h


def dare_uniforms(seed, name, task, n):
    """uniform(stream key, i) = (mix64(key + (i + 1)·golden) >> 11) / 2^53, key = mix64(mix64(seed ^ fnv(name)) + t)."""
    m = (1 << 64) - 1
    key = mix64((mix64(seed ^ fnv1a64(name)) + task) & m)
    golden = 0x9E3779B97F4A7C15
    out = np.empty(n)
    for i in range(n):
        out[i] = (mix64((key + (i + 1) * golden) & m) >> 11) / float(1 << 53)
    return out


def kth_largest_key(tau, k):
    """The k-th largest |τ| by its f64 bits (NaN above Inf), as an f64."""
    keys = np.sort(np.abs(tau).view(np.uint64) & np.uint64(0x7FFFFFFFFFFFFFFF))[::-1]
    return keys[k - 1]


def magnitude_keys(tau):
    return tau.view(np.uint64) & np.uint64(0x7FFFFFFFFFFFFFFF)


def round_count(x):
    """round(x) as the issue writes it: Python's round, halves to even."""
    return int(round(x))


def merge_tensor(method, p, name, base, taus):
    n, tasks = base.size, len(taus)
    masks = np.zeros((tasks, n), dtype=bool)
    total = np.zeros(n)
    for t in range(tasks):
        total = total + taus[t]
    for t, tau in enumerate(taus):
        keys = magnitude_keys(tau)
        if method == "task-arithmetic":
            masks[t] = tau != 0
        elif method == "ties":
            k = min(n, max(0, round_count(p["density"] * n)))
            masks[t] = keys >= kth_largest_key(tau, k) if k > 0 else False
        elif method == "breadcrumbs":
            bottom = min(n, round_count(p["gamma"] * n))
            top = min(n, round_count(p["beta"] * n))
            keep = np.ones(n, bool) if bottom == 0 else (keys >= kth_largest_key(tau, n - bottom) if n - bottom > 0 else np.zeros(n, bool))
            drop = keys >= kth_largest_key(tau, top) if top > 0 else np.zeros(n, bool)
            masks[t] = keep & ~drop
        elif method == "dare":
            masks[t] = dare_uniforms(p["seed"], name, t, n) >= p["drop"]
        else:  # tall, consensus
            masks[t] = np.abs(tau) >= p["lambda"] * np.abs(total - tau)
    counts = masks.sum(axis=0)
    delta = np.zeros(n)
    for i in range(n):
        tau_i = [taus[t][i] for t in range(tasks)]
        kept = [tau_i[t] for t in range(tasks) if masks[t, i]]
        masked = 0.0
        for v in kept:
            masked += v
        if method == "task-arithmetic":
            delta[i] = p["lambda"] * total[i]
        elif method == "ties":
            agree = [v for v in kept if (masked > 0 and v > 0) or (masked < 0 and v < 0)]
            s = 0.0
            for v in agree:
                s += v
            delta[i] = p["lambda"] * (s / len(agree)) if agree else (math.nan if math.isnan(masked) else 0.0)
        elif method == "dare":
            delta[i] = p["lambda"] * (masked / (1.0 - p["drop"]))
        elif method == "breadcrumbs":
            delta[i] = p["lambda"] * masked
        elif method == "tall":
            delta[i] = total[i]
        else:
            delta[i] = total[i] if counts[i] >= p["k"] else 0.0
    merged = np.where(delta == 0, base, base + delta)
    positive = ((np.array(taus) > 0) & masks).any(axis=0)
    negative = ((np.array(taus) < 0) & masks).any(axis=0)
    abs_taus = np.abs(np.array(taus))
    finite = np.isfinite(abs_taus)
    total_l1 = float(abs_taus[finite].sum())
    trimmed = float(abs_taus[finite & ~masks].sum())
    stats = {
        "name": name,
        "kept_fraction": float(masks.sum()) / (tasks * n) if n else None,
        "sign_conflict_fraction": float((positive & negative).sum()) / n if n else None,
        "task_counts": [int((counts == c).sum()) for c in range(tasks + 1)],
        "trimmed_mass": trimmed / total_l1 if total_l1 > 0 else None,
    }
    plane_list = list(masks) + ([counts >= p["k"]] if method == "consensus" else [])
    return stats, merged, plane_list


def bf16_round(x):
    """float64 → nearest bfloat16 (ties to even) directly, not through float32; returns the u16 patterns."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    out = np.empty(x.size, dtype=np.uint16)
    for i, v in enumerate(x.tolist()):
        if math.isnan(v):
            out[i] = 0x7FC0
            continue
        sign = 0x8000 if math.copysign(1.0, v) < 0 else 0
        a = abs(v)
        if a == 0:
            out[i] = sign
            continue
        if math.isinf(a):
            out[i] = sign | 0x7F80
            continue
        e = max(math.frexp(a)[1] - 1, -126)
        quantum = math.ldexp(1.0, e - 7)
        q = a / quantum
        r = math.floor(q)
        if q - r > 0.5 or (q - r == 0.5 and r % 2 == 1):
            r += 1
        value = r * quantum
        if value >= math.ldexp(1.0, 128):
            out[i] = sign | 0x7F80
            continue
        out[i] = sign | (np.array([value], dtype=np.float32).view(np.uint32)[0] >> 16)
    return out


def encode(dtype, x):
    if dtype == "F64":
        return x.astype("<f8").tobytes()
    if dtype == "F32":
        return x.astype("<f4").tobytes()
    if dtype == "F16":
        return x.astype("<f2").tobytes()
    if dtype == "BF16":
        return bf16_round(x).astype("<u2").tobytes()
    raise ValueError(f"the reference does not encode {dtype}")


def merge(out_dir, method, params, base_path, model_paths):
    base = read_tensors(base_path)
    models = [read_tensors(p) for p in model_paths]
    report = {"method": method, "params": params, "tensors": []}
    merged_out, mask_out = [], []
    for name, t in base.items():
        b = values(t)
        taus = [values(m[name]) - b for m in models]
        stats, merged, planes = merge_tensor(method, params, name, b, taus)
        report["tensors"].append(stats)
        merged_out.append((name, t[0], t[1], encode(t[0], merged)))
        names = [f"mask.task{i + 1}.{name}" for i in range(len(models))] + (["mask.consensus." + name] if method == "consensus" else [])
        mask_out += [(mn, "U8", t[1], plane.astype(np.uint8).tobytes()) for mn, plane in zip(names, planes)]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    write_file(Path(out_dir) / "merged.safetensors", merged_out)
    write_file(Path(out_dir) / "masks.safetensors", mask_out)
    return report


# ---- fixtures ---------------------------------------------------------------------------------------------------

def make_finetunes(out):
    rng = np.random.default_rng(7_2026)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hidden, inter, vocab, layers = 32, 48, 64, 3

    def bf16(x):
        return bf16_round(np.asarray(x, dtype=np.float64)).astype("<u2").tobytes()

    spec = [("model.embed_tokens.weight", "BF16", [vocab, hidden])]
    for layer in range(layers):
        p = f"model.layers.{layer}"
        spec += [(f"{p}.input_layernorm.weight", "F32", [hidden])]
        spec += [(f"{p}.self_attn.{m}_proj.weight", "F32", [hidden, hidden]) for m in "qkvo"]
        spec += [(f"{p}.mlp.gate_proj.weight", "F16", [inter, hidden]), (f"{p}.mlp.up_proj.weight", "F16", [inter, hidden]),
                 (f"{p}.mlp.down_proj.weight", "F16", [hidden, inter])]
    spec += [("model.norm.weight", "F32", [hidden]), ("lm_head.weight", "BF16", [vocab, hidden]), ("scale.bias", "F64", [hidden])]
    base = {}
    for name, dtype, shape in spec:
        base[name] = np.ones(shape) + 0.05 * rng.standard_normal(shape) if len(shape) == 1 else 0.02 * rng.standard_normal(shape)

    def low_rank(shape, sigmas):
        r = len(sigmas)
        u, _ = np.linalg.qr(rng.standard_normal((shape[0], r)))
        v, _ = np.linalg.qr(rng.standard_normal((shape[1], r)))
        return (u * np.asarray(sigmas)) @ v.T

    def encoded(name, dtype, x):
        if dtype == "BF16":
            return bf16(x)
        return x.astype({"F32": "<f4", "F16": "<f2", "F64": "<f8"}[dtype]).tobytes()

    def save(path, tensors, meta=None):
        write_file(path, [(n, d, s, encoded(n, d, tensors[n])) for n, d, s in spec if n in tensors], meta)

    save(out / "base.safetensors", base, {"role": "base"})
    # Planted low-rank deltas per fine-tune (σ known); layer 0 and the embeddings stay frozen (bit-identical).
    plans = {
        "ft_a": {"model.layers.1.self_attn.q_proj.weight": [0.5, 0.2], "model.layers.2.self_attn.v_proj.weight": [0.3, 0.1],
                 "lm_head.weight": [0.4, 0.3, 0.2, 0.1]},
        "ft_b": {"model.layers.1.self_attn.q_proj.weight": [0.6], "model.layers.2.mlp.down_proj.weight": [0.25, 0.2, 0.15],
                 "model.layers.1.self_attn.o_proj.weight": [0.3, 0.3]},
        "ft_c": {"model.layers.2.self_attn.v_proj.weight": [0.2, 0.2, 0.2, 0.2], "lm_head.weight": [0.5]},
    }
    planted = {}
    for ft, deltas in plans.items():
        tuned = {}
        for name, dtype, shape in spec:
            x = base[name].copy()
            if name in deltas:
                x = x + low_rank(shape, deltas[name])
            elif not name.startswith("model.layers.0.") and name != "model.embed_tokens.weight":
                x = x + 0.001 * rng.standard_normal(shape)
            tuned[name] = x
        save(out / f"{ft}.safetensors", tuned, {"role": ft})
        planted[ft] = deltas
    # A copy of ft_a as a PEFT-wrapped model: prefixed names, one tensor missing, one extra, one reshaped, one recast.
    renamed = []
    ft_a = read_tensors(out / "ft_a.safetensors")
    for name, (dtype, shape, raw) in ft_a.items():
        if name == "model.layers.2.mlp.up_proj.weight":
            continue
        if name == "model.layers.1.mlp.gate_proj.weight":
            renamed.append(("base_model.model." + name, dtype, [shape[1], shape[0]], raw))
        elif name == "lm_head.weight":
            renamed.append(("base_model.model." + name, "F32", shape, decode(dtype, raw).astype("<f4").tobytes()))
        else:
            renamed.append(("base_model.model." + name, dtype, shape, raw))
    renamed.append(("base_model.model.extra.bias", "F32", [4], np.arange(4, dtype="<f4").tobytes()))
    write_file(out / "renamed.safetensors", renamed)
    # A different architecture: no common names at all.
    write_file(out / "other_arch.safetensors", [("encoder.block.0.weight", "F32", [4, 4], np.zeros(16, "<f4").tobytes())])
    # Non-finite values and sign flips, hand-made.
    write_file(out / "special_a.safetensors", [
        ("x", "F32", [6], np.array([1.0, -2.0, 0.0, np.nan, 3.0, -0.0], "<f4").tobytes()),
        ("y", "F32", [3], np.array([1.0, 2.0, 3.0], "<f4").tobytes()),
        ("zeros", "F32", [2], np.zeros(2, "<f4").tobytes()),
        ("odd", "X9", [2], bytes(2)),
    ])
    write_file(out / "special_b.safetensors", [
        ("x", "F32", [6], np.array([1.0, 2.0, 0.5, np.nan, -3.0, 0.0], "<f4").tobytes()),
        ("y", "F32", [3], np.array([1.0, np.inf, 3.0], "<f4").tobytes()),
        ("zeros", "F32", [2], np.array([1.0, 0.0], "<f4").tobytes()),
        ("odd", "X9", [2], bytes(2)),
    ])
    # Two PEFT adapters of one run, with their config.
    a1 = rng.standard_normal((4, hidden)) * 0.1
    b1 = rng.standard_normal((hidden, 4)) * 0.01
    for tag, (a, b) in {"adapter_1": (a1, b1), "adapter_2": (a1 + 0.01 * rng.standard_normal(a1.shape), b1 * 1.5)}.items():
        folder = out / tag
        folder.mkdir(exist_ok=True)
        write_file(folder / "adapter_model.safetensors", [
            ("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight", "F32", [4, hidden], a.astype("<f4").tobytes()),
            ("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight", "F32", [hidden, 4], b.astype("<f4").tobytes()),
            ("base_model.model.lm_head.weight", "F32", [2, hidden], np.ones((2, hidden), "<f4").tobytes()),
        ], {"format": "pt"})
        (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "rank_pattern": {}, "alpha_pattern": {}}))
    (out / "planted.json").write_text(json.dumps(planted))


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "make-finetunes":
        make_finetunes(sys.argv[2])
    elif command == "diff":
        lora = sys.argv[5:7] if len(sys.argv) > 4 and sys.argv[4] == "--lora" else None
        print(json.dumps(diff(sys.argv[2], sys.argv[3], lora)))
    elif command == "lowrank":
        print(json.dumps(lowrank(sys.argv[2], sys.argv[3], sys.argv[4])))
    elif command == "merge":
        print(json.dumps(merge(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), sys.argv[5], sys.argv[6:])))
    else:
        print(__doc__)
        sys.exit(2)
