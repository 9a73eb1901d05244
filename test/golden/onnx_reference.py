#!/usr/bin/env python3
"""Independent float64 reference for `weightscope stats --json` on ONNX models, and the ONNX fixtures the golden
tests use. Parsing and decoding are the `onnx` package's own (its protobuf bindings and numpy_helper, with
ml_dtypes for the small float types), never Weightscope's; only the statistics formulas are shared with
reference.py. Tensor naming follows the rules documented in extension/formats/onnx.ts.

    onnx_reference.py stats MODEL.onnx       JSON in the CLI's shape: names, dtypes, shapes, stats or error code
    onnx_reference.py make-fixtures DIR      writes seeded ONNX models covering every storage form
"""
import json
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).parent))
from reference import stats  # noqa: E402

DTYPES = {
    TensorProto.FLOAT: "F32", TensorProto.UINT8: "U8", TensorProto.INT8: "I8", TensorProto.UINT16: "U16",
    TensorProto.INT16: "I16", TensorProto.INT32: "I32", TensorProto.INT64: "I64", TensorProto.BOOL: "BOOL",
    TensorProto.FLOAT16: "F16", TensorProto.DOUBLE: "F64", TensorProto.UINT32: "U32", TensorProto.UINT64: "U64",
    TensorProto.BFLOAT16: "BF16", TensorProto.FLOAT8E4M3FN: "F8_E4M3", TensorProto.FLOAT8E4M3FNUZ: "F8_E4M3FNUZ",
    TensorProto.FLOAT8E5M2: "F8_E5M2", TensorProto.FLOAT8E5M2FNUZ: "F8_E5M2FNUZ", TensorProto.FLOAT4E2M1: "F4",
    TensorProto.FLOAT8E8M0: "F8_E8M0", TensorProto.FLOAT6E2M3: "F6_E2M3", TensorProto.FLOAT6E3M2: "F6_E3M2",
}
# Elements per whole byte group of the packed types: other counts pad the last group, which Weightscope refuses.
GROUP_ELEMENTS = {"F4": 2, "F6_E2M3": 4, "F6_E3M2": 4}


def tensor_record(name, t, base_dir):
    dtype = DTYPES.get(t.data_type)
    record = {"name": name, "dtype": dtype or TensorProto.DataType.Name(t.data_type), "shape": list(t.dims),
              "stats": None, "error": None}
    if dtype is None:
        record["error"] = {"code": "UNSUPPORTED_DTYPE"}
    elif int(np.prod(t.dims)) % GROUP_ELEMENTS.get(dtype, 1):
        record["error"] = {"code": "UNSUPPORTED_LAYOUT"}
    elif dtype in ("F6_E2M3", "F6_E3M2") and not t.HasField("raw_data"):
        record["error"] = {"code": "UNSUPPORTED_LAYOUT"}  # one 6-bit value per int32_data entry: not supported
    else:
        record["stats"] = stats(numpy_helper.to_array(t, base_dir).astype(np.float64).reshape(-1))
    return record


def sparse_record(name, s):
    return {"name": name, "dtype": DTYPES.get(s.values.data_type, TensorProto.DataType.Name(s.values.data_type)),
            "shape": list(s.dims), "stats": None, "error": {"code": "UNSUPPORTED_LAYOUT"}}


def array_record(name, dtype, shape, values):
    return {"name": name, "dtype": dtype, "shape": shape, "stats": stats(np.asarray(values, np.float64).reshape(-1)),
            "error": None}


def constant_records(name, attribute, base_dir):
    a = attribute
    if a.name == "value":
        return [tensor_record(name, a.t, base_dir)]
    if a.name == "sparse_value":
        return [sparse_record(name, a.sparse_tensor)]
    if a.name == "value_float":
        return [array_record(name, "F32", [], np.float32(a.f))]
    if a.name == "value_floats":
        return [array_record(name, "F32", [len(a.floats)], np.asarray(a.floats, np.float32))]
    if a.name == "value_int":
        return [array_record(name, "I64", [], a.i)]
    if a.name == "value_ints":
        return [array_record(name, "I64", [len(a.ints)], np.asarray(a.ints, np.int64))]
    if a.name in ("value_string", "value_strings"):
        return [{"name": name, "dtype": "STRING", "shape": [], "stats": None, "error": {"code": "UNSUPPORTED_DTYPE"}}]
    return []


def graph_records(graph, prefix, base_dir):
    initializers = []
    for t in graph.initializer:
        initializers.append(tensor_record(prefix + (t.name or f"initializer#{len(initializers)}"), t, base_dir))
    for s in graph.sparse_initializer:
        initializers.append(sparse_record(prefix + (s.values.name or f"initializer#{len(initializers)}"), s))
    held = []
    for index, node in enumerate(graph.node):
        held += node_records(node, index, prefix, base_dir)
    return initializers + held


def node_records(node, index, prefix, base_dir):
    output = node.output[0] if len(node.output) else ""
    label = node.name or output or f"{node.op_type}#{index}"
    records = []
    for a in node.attribute:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            records += constant_records(prefix + (output or label), a, base_dir)
            continue
        path = f"{prefix}{label}/{a.name}"
        if a.HasField("t"):
            records.append(tensor_record(path, a.t, base_dir))
        if a.HasField("sparse_tensor"):
            records.append(sparse_record(path, a.sparse_tensor))
        if a.HasField("g"):
            records += graph_records(a.g, path + "/", base_dir)
        records += [tensor_record(f"{path}.{i}", t, base_dir) for i, t in enumerate(a.tensors)]
        for i, g in enumerate(a.graphs):
            records += graph_records(g, f"{path}.{i}/", base_dir)
        records += [sparse_record(f"{path}.{i}", s) for i, s in enumerate(a.sparse_tensors)]
    return records


def unique_names(records):
    taken, next_suffix = set(), {}
    for r in records:
        base = r["name"]
        if base in taken:
            k = next_suffix.get(base, 2)
            while f"{base}#{k}" in taken:
                k += 1
            next_suffix[base] = k + 1
            r["name"] = f"{base}#{k}"
        taken.add(r["name"])
    return records


def model_records(path):
    base_dir = str(Path(path).parent)
    model = onnx.load(str(path), load_external_data=False)
    records = graph_records(model.graph, "", base_dir)
    for function in model.functions:
        for index, node in enumerate(function.node):
            records += node_records(node, index, f"{function.domain}:{function.name}/", base_dir)
    for i, info in enumerate(model.training_info):
        for part in ("initialization", "algorithm"):
            if info.HasField(part):
                records += graph_records(getattr(info, part), f"training_info.{i}/{part}/", base_dir)
    return {"format": "onnx", "tensors": unique_names(records)}


def make_fixtures(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261201)

    def floats(n, scale=0.02):
        x = rng.standard_normal(n) * scale
        x[rng.integers(0, n, 3)] *= 300  # planted outliers
        return x

    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, -3.5, 2.0])
    typed = lambda name, dtype, shape, values: helper.make_tensor(name, dtype, shape, values, raw=False)  # noqa: E731
    raw = lambda name, array: numpy_helper.from_array(array, name)  # noqa: E731

    # Every storage form of a TensorProto: typed fields (packed varints, packed fixed-width) and raw_data.
    initializers = [
        typed("typed.float", TensorProto.FLOAT, [30, 40], floats(1200).astype(np.float32)),
        typed("typed.float_special", TensorProto.FLOAT, [8], special.astype(np.float32)),
        typed("typed.double", TensorProto.DOUBLE, [500], floats(500, 3.0)),
        typed("typed.int32", TensorProto.INT32, [1000], rng.integers(-2**31, 2**31 - 1, 1000)),
        typed("typed.int64", TensorProto.INT64, [2, 300], rng.integers(-2**62, 2**62, 600)),
        typed("typed.int64_positions", TensorProto.INT64, [200_000], np.arange(200_000) * 7 - 5),
        typed("typed.uint64", TensorProto.UINT64, [100], rng.integers(0, 2**63, 100, dtype=np.uint64) * np.uint64(2)),
        typed("typed.uint32", TensorProto.UINT32, [100], rng.integers(0, 2**32, 100, dtype=np.uint64)),
        typed("typed.int8", TensorProto.INT8, [256], np.arange(-128, 128)),
        typed("typed.uint8", TensorProto.UINT8, [256], np.arange(256)),
        typed("typed.int16", TensorProto.INT16, [500], rng.integers(-32768, 32767, 500)),
        typed("typed.uint16", TensorProto.UINT16, [500], rng.integers(0, 65535, 500)),
        typed("typed.bool", TensorProto.BOOL, [9], np.array([0, 1, 1, 0, 1, 0, 0, 1, 1], bool)),
        typed("typed.float16", TensorProto.FLOAT16, [64, 32], floats(2048, 1.0).astype(np.float16)),
        typed("typed.bfloat16", TensorProto.BFLOAT16, [3000], floats(3000).astype(np.float32)),
        typed("typed.float8e4m3fn", TensorProto.FLOAT8E4M3FN, [100], floats(100, 10.0).astype(np.float32)),
        typed("typed.float8e5m2", TensorProto.FLOAT8E5M2, [100], floats(100, 10.0).astype(np.float32)),
        typed("typed.float4e2m1", TensorProto.FLOAT4E2M1, [64], rng.choice([0, 0.5, 1, 1.5, 2, 3, 4, 6, -1, -6], 64)),
        typed("typed.float4e2m1_odd", TensorProto.FLOAT4E2M1, [3], [1.0, -1.5, 0.5]),
        typed("typed.float8e4m3fnuz", TensorProto.FLOAT8E4M3FNUZ, [100], floats(100, 10.0).astype(np.float32)),
        typed("typed.float8e5m2fnuz", TensorProto.FLOAT8E5M2FNUZ, [100], floats(100, 10.0).astype(np.float32)),
        typed("typed.float8e8m0", TensorProto.FLOAT8E8M0, [6], [1.0, 2.0, 0.5, 1024.0, 2.0**-100, 2.0**100]),
        typed("typed.float6e2m3", TensorProto.FLOAT6E2M3, [4], [1.0, -1.5, 0.5, 2.0]),
        typed("typed.int4", TensorProto.INT4, [4], [1, -2, 3, 4]),
        typed("typed.scalar", TensorProto.FLOAT, [], [2.5]),
        typed("typed.empty", TensorProto.FLOAT, [0, 3], []),
        typed("typed.string", TensorProto.STRING, [2], [b"a", b"bc"]),
        raw("raw.float", floats(50_000).astype(np.float32).reshape(100, 500)),
        raw("raw.float16", floats(4096, 1.0).astype(np.float16)),
        raw("raw.double", floats(300, 5.0)),
        raw("raw.int64", rng.integers(-5, 50, 3000)),
        raw("raw.bool", np.array([True, False, True])),
        raw("raw.uint8", rng.integers(0, 256, 1000, dtype=np.uint8)),
        raw("raw.uint64", rng.integers(0, 2**64 - 1, 100, dtype=np.uint64)),
        raw("raw.float8e8m0", np.array([1.0, 2.0, 0.5, 1024.0], ml_dtypes.float8_e8m0fnu)),
        raw("raw.float8e4m3fn", floats(1000, 30.0).astype(ml_dtypes.float8_e4m3fn)),
        raw("raw.float6e2m3", rng.choice([1.0, -1.5, 0.5, 2.0, 7.5, -0.125, 3.0, 0.0], 64).astype(ml_dtypes.float6_e2m3fn)),
        raw("raw.float6e3m2", rng.choice([1.0, -1.5, 0.5, 2.0, 28.0, -0.0625], 64).astype(ml_dtypes.float6_e3m2fn)),
        raw("raw.float4e2m1", rng.choice([0, 0.5, 1, 1.5, 2, 3, 4, 6, -1, -6], 128).astype(ml_dtypes.float4_e2m1fn)),
    ]
    bf16_raw = helper.make_tensor("raw.bfloat16", TensorProto.BFLOAT16, [1000], floats(1000).astype(np.float32), raw=False)
    bf16_raw.raw_data = np.asarray(bf16_raw.int32_data, np.uint16).tobytes()
    del bf16_raw.int32_data[:]
    initializers.append(bf16_raw)

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    identity = helper.make_node("Identity", ["x"], ["y"])
    model = helper.make_model(helper.make_graph([identity], "typed", [x], [y], initializers),
                              producer_name="weightscope-fixtures", producer_version="1")
    helper.set_model_props(model, {"purpose": "every storage form", "ir_version": "not the model's"})
    model.doc_string = "Seeded ONNX fixtures"
    onnx.save_model(model, str(out / "typed.onnx"))

    # External data: every tensor in one side file, one in a file of its own.
    ext = [raw(f"ext.w{i}", floats(5000 + i).astype(np.float32)) for i in range(3)] + [raw("ext.ids", np.arange(40))]
    model = helper.make_model(helper.make_graph([identity], "external", [x], [y], ext))
    onnx.save_model(model, str(out / "external.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="external.onnx.data", size_threshold=0)

    # Subgraphs: If branches with their own initializers and Constants, a nested If, a Loop body.
    def branch(name, scale, nested=None):
        init = [raw(f"{name}.weight", floats(600, scale).astype(np.float32)), raw("shared_name", np.arange(5))]
        nodes = [helper.make_node("Constant", [], [f"{name}_c"], value=raw("", floats(10).astype(np.float32)))]
        if nested is not None:
            nodes.append(nested)
        nodes.append(helper.make_node("Identity", ["x"], [f"{name}_out"]))
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [1])], init)

    inner_if = helper.make_node("If", ["cond"], ["inner_out"], name="inner_if",
                                then_branch=branch("inner_then", 1.0), else_branch=branch("inner_else", 2.0))
    outer_if = helper.make_node("If", ["cond"], ["y"], name="outer_if",
                                then_branch=branch("then", 0.1, inner_if), else_branch=branch("else", 0.2))
    loop = helper.make_node("Loop", ["", "cond"], ["z"], body=branch("body", 0.3))  # unnamed: labelled by its output
    cond = helper.make_tensor_value_info("cond", TensorProto.BOOL, [])
    graph = helper.make_graph([outer_if, loop], "subgraphs", [cond, x], [y],
                              [raw("top.weight", floats(1000).astype(np.float32)), raw("shared_name", np.arange(3))])
    onnx.save_model(helper.make_model(graph), str(out / "subgraph.onnx"))

    # Constant nodes in every form, other nodes' tensor attributes, a function and a training graph.
    sparse = helper.make_sparse_tensor(raw("sp", np.array([1.0, 2.0], np.float32)), raw("sp_idx", np.array([1, 5])), [3, 4])
    nodes = [
        helper.make_node("Constant", [], ["c.value"], value=raw("", floats(777).astype(np.float32).reshape(7, 111))),
        helper.make_node("Constant", [], ["c.float"], value_float=-1.25),
        helper.make_node("Constant", [], ["c.floats"], value_floats=[1.0, -2.5, 3.75, float("nan")]),
        helper.make_node("Constant", [], ["c.int"], value_int=-(2**40)),
        helper.make_node("Constant", [], ["c.ints"], value_ints=[5, -7, 2**62, 0]),
        helper.make_node("Constant", [], ["c.string"], value_string="hello"),
        helper.make_node("Constant", [], ["c.sparse"], sparse_value=sparse),
        helper.make_node("Constant", [], ["c.typed_int64"], value=typed("", TensorProto.INT64, [3], [1, -1, 9])),
        helper.make_node("ConstantOfShape", ["c.typed_int64"], ["filled"], value=raw("", np.array([0.5], np.float32))),
        helper.make_node("ConstantOfShape", ["c.typed_int64"], ["filled2"], name="named_fill",
                         value=typed("", TensorProto.FLOAT16, [1], np.array([1.5], np.float16))),
        helper.make_node("Constant", [], ["dup"], value=raw("", np.array([1, 2, 3], np.int32))),
        helper.make_node("Identity", ["x"], ["y"]),
    ]
    fn_const = helper.make_node("Constant", [], ["k"], value_floats=[0.25, 0.5])
    fn_out = helper.make_node("Mul", ["a", "k"], ["b"])
    function = helper.make_function("custom.ops", "Scale", ["a"], ["b"], [fn_const, fn_out],
                                     [helper.make_opsetid("", 17)])
    graph = helper.make_graph(nodes, "constants", [x], [y], [raw("dup", np.array([9.0], np.float32))])
    model = helper.make_model(graph, functions=[function],
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("custom.ops", 1)])
    algorithm = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "algorithm", [x], [y],
                                  [raw("learning_rate", np.array([0.01], np.float32))])
    model.training_info.append(helper.make_training_info(algorithm, [], None, []))
    onnx.save_model(model, str(out / "constants.onnx"))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make-fixtures":
        make_fixtures(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "stats":
        print(json.dumps(model_records(sys.argv[2])))
    else:
        sys.exit(__doc__)
