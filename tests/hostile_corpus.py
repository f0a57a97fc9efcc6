"""A hostile corpus: ONNX files (and non-files) of the kind an upload form or a model zoo collects.

`write_corpus(folder)` generates every entry at test time (nothing binary is committed) and returns
{name: HostileFile}. Each entry says its family and what the checker must answer: the exit code and,
when the verdict depends on one rule, its id. Used by tests/test_hostile.py and the CI-format tests.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx.parser
from onnx import TensorProto, helper, numpy_helper
from onnx_graphs import rename_output

IMAGENET_DOC = '{"means":[123.675,116.28,103.53],"vars":[58.395,57.12,57.375]}'
SCORES = "scores-0:cat;1:dog;2:car;3:bus"

CLASSIFIER = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[{shape}] "image-") => (float[1,4] out) {{
  {prelude}
  pooled = GlobalAveragePool({source})
  flat = Flatten(pooled)
  logits = MatMul(flat, w)
  out = Softmax(logits)
}}
"""


@dataclass(frozen=True)
class HostileFile:
    family: str
    exit_code: int  # what `python -m nxport.conventions FILE` must return
    rule_id: str | None = None  # the rule whose MUST finding carries the verdict (None: any)
    runtime_only: bool = False  # the verdict needs the onnxruntime stage (hangs, runtime bombs)


def classifier(shape: str = "1,3,8,8", prelude: str = "", source: str = '"image-"', doc: str = IMAGENET_DOC,
               name: str = SCORES) -> onnx.ModelProto:
    model = onnx.parser.parse_model(CLASSIFIER.format(shape=shape, prelude=prelude, source=source))
    weights = (np.arange(12, dtype=np.float32).reshape(3, 4) % 5) / 10
    model.graph.initializer.append(numpy_helper.from_array(weights, "w"))
    model.graph.doc_string = doc
    rename_output(model, "out", name)
    return model


def _scalar(name: str, value, dtype=np.int64) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, dtype=dtype), name)


# --- hangs ----------------------------------------------------------------------------------------


def _loop_body(name: str = "body", p: str = "") -> onnx.GraphProto:
    """i, cond, x -> cond, x + 1: cheap per iteration, so only the trip count matters. `p` prefixes
    every name: a nested body must not reuse its parent's names (SSA)."""
    one = helper.make_tensor(p + "one", TensorProto.FLOAT, [], [1.0])
    return helper.make_graph(
        [helper.make_node("Identity", [p + "cond_in"], [p + "cond_out"]),
         helper.make_node("Add", [p + "x_in", p + "one"], [p + "x_out"])],
        name,
        [helper.make_tensor_value_info(p + "i", TensorProto.INT64, []),
         helper.make_tensor_value_info(p + "cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info(p + "x_in", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info(p + "cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info(p + "x_out", TensorProto.FLOAT, [1, 3, 8, 8])],
        [one])


def loop_in_front(trip_count: int | None) -> onnx.ModelProto:
    """The measured hang: a Loop (trip count 10^15, or none with cond always true) before a classifier."""
    model = classifier(source="looped")
    inputs = ["trip" if trip_count is not None else "", "cond", "image-"]
    loop = helper.make_node("Loop", inputs, ["looped"], body=_loop_body())
    model.graph.node.insert(0, loop)
    if trip_count is not None:
        model.graph.initializer.append(_scalar("trip", trip_count))
    model.graph.initializer.append(_scalar("cond", True, np.bool_))
    return model


def nested_loops() -> onnx.ModelProto:
    """10^5 x 10^5 iterations: each loop alone is short, together they never end."""
    model = loop_in_front(10**5)
    inner = helper.make_node("Loop", ["trip", "cond_in", "x_in"], ["x_mid"], body=_loop_body("inner", "inner_"))
    body = model.graph.node[0].attribute[0].g
    body.node[1].input[0] = "x_mid"
    body.node.insert(1, inner)
    return model


def scan_long() -> onnx.ModelProto:
    """Scan over 10^8 steps of a (1, 16) state: small memory, endless time."""
    model = classifier()
    body = helper.make_graph(
        [helper.make_node("Add", ["state_in", "step"], ["state_out"])], "scan_body",
        [helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [1, 16]),
         helper.make_tensor_value_info("step", TensorProto.FLOAT, [])],
        [helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1, 16])])
    nodes = [
        helper.make_node("ConstantOfShape", ["steps_shape"], ["steps"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])),
        helper.make_node("Scan", ["state0", "steps"], ["state"], body=body, num_scan_inputs=1),
        helper.make_node("ReduceSum", ["state"], ["total"], keepdims=0),
        helper.make_node("Add", ["logits_raw", "total"], ["logits"]),
    ]
    model.graph.node[2].output[0] = "logits_raw"
    for i, node in enumerate(nodes[:2]):
        model.graph.node.insert(i, node)
    model.graph.node.insert(len(model.graph.node) - 1, nodes[2])
    model.graph.node.insert(len(model.graph.node) - 1, nodes[3])
    model.graph.initializer.extend([_scalar("steps_shape", [10**8]),
                                    numpy_helper.from_array(np.zeros((1, 16), np.float32), "state0")])
    return model


def recursive_function() -> onnx.ModelProto:
    """A model-local function that calls itself: inliners and checkers must not recurse forever."""
    model = classifier(prelude='r = local.Rec("image-")', source="r")
    model.opset_import.append(helper.make_opsetid("local", 1))
    rec = helper.make_function("local", "Rec", ["x"], ["y"], [helper.make_node("Rec", ["x"], ["y"], domain="local")],
                               [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)])
    model.functions.append(rec)
    return model


# --- resource bombs -------------------------------------------------------------------------------


def _empty_tensor(name: str, dims: list[int]) -> onnx.TensorProto:
    tensor = onnx.TensorProto(name=name, data_type=TensorProto.FLOAT)
    tensor.dims.extend(dims)  # helper.make_tensor refuses this; a hand-written file does not
    return tensor


def declared_but_empty_initializer() -> onnx.ModelProto:
    """An initializer that declares 10^12 float elements and carries no data."""
    model = classifier(prelude="big_sum = ReduceSum(big)")
    model.graph.initializer.append(_empty_tensor("big", [10**6, 10**6]))
    return model


def overflowing_dims() -> onnx.ModelProto:
    model = classifier()
    model.graph.initializer.append(_empty_tensor("big", [2**62, 8]))
    return model


def expand_bomb() -> onnx.ModelProto:
    """Static input is tiny; an Expand inside the graph asks for 4 * 10^10 bytes at run time."""
    model = classifier(prelude='p = ReduceMean<keepdims=1>("image-")\n  e = Expand(p, bomb_shape)\n'
                              '  s = ReduceMean<keepdims=1>(e)\n  m = Mul("image-", s)', source="m")
    model.graph.initializer.append(_scalar("bomb_shape", [10**4, 3, 1000, 1000]))
    return model


# --- malformed graphs -----------------------------------------------------------------------------


def cycle() -> onnx.ModelProto:
    model = classifier()
    a = helper.make_node("Add", ["flat", "b_loop"], ["a_loop"])
    b = helper.make_node("Add", ["a_loop", "flat"], ["b_loop"])
    model.graph.node.insert(2, a)
    model.graph.node.insert(3, b)
    model.graph.node[4].input[0] = "a_loop"
    return model


def undefined_tensor() -> onnx.ModelProto:
    model = classifier()
    model.graph.node[2].input[0] = "nowhere"
    return model


def shadowed_input() -> onnx.ModelProto:
    """A node writes a tensor named like the graph input: two values under one name."""
    model = classifier(prelude='"image-" = Relu("image-")')
    return model


def shadowed_initializer() -> onnx.ModelProto:
    model = classifier()
    model.graph.node[1].output[0] = "w"
    model.graph.node[2].input[0] = "w"
    return model


def duplicate_outputs() -> onnx.ModelProto:
    model = classifier()
    model.graph.output.append(model.graph.output[0])
    return model


def duplicate_inputs() -> onnx.ModelProto:
    model = classifier()
    model.graph.input.append(model.graph.input[0])
    return model


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def nested_ifs_bytes(depth: int) -> bytes:
    """A classifier plus an If nested `depth` levels deep, written in protobuf wire format by hand:
    the Python protobuf runtime refuses to even build a message this deep (limit 100)."""
    graph = _field(2, b"leaf")
    for _ in range(depth):  # GraphProto.node(1) > NodeProto.attribute(5) > AttributeProto.g(6)
        attr = _field(1, b"then_branch") + _varint(20 << 3) + _varint(onnx.AttributeProto.GRAPH) + _field(6, graph)
        graph = _field(1, _field(1, b"cond") + _field(2, b"y") + _field(4, b"If") + _field(5, attr))
    # A second ModelProto.graph(7) occurrence merges into the first: the deep If joins the classifier.
    return classifier().SerializeToString() + _field(7, graph)


# --- the table ------------------------------------------------------------------------------------

DOC = '{{"means": {means}, "vars": {vars}}}'
MODELS: dict[str, tuple[HostileFile, Callable[[], onnx.ModelProto]]] = {
    # hangs: only the wall-clock limit ends them (H1); recursion is refused statically
    "loop_trip_1e15": (HostileFile("hang", 1, "H1", True), lambda: loop_in_front(10**15)),
    "loop_forever": (HostileFile("hang", 1, "H1", True), lambda: loop_in_front(None)),
    "nested_loops": (HostileFile("hang", 1, "H1", True), nested_loops),
    "scan_1e8_steps": (HostileFile("hang", 1, "H1", True), scan_long),
    "recursive_function": (HostileFile("hang", 1), recursive_function),
    # resource bombs
    "input_50000x50000": (HostileFile("resource bomb", 1, "H3"), lambda: classifier(shape="1,3,50000,50000")),
    "input_nhwc_2e9_pixels": (HostileFile("resource bomb", 1, "H3"), lambda: classifier(shape="1,40000,50000,3")),
    "initializer_1e12_no_data": (HostileFile("resource bomb", 1, "H4"), declared_but_empty_initializer),
    "initializer_overflowing_dims": (HostileFile("resource bomb", 1, "H4"), overflowing_dims),
    "doc_string_8mb": (HostileFile("resource bomb", 1, "H4"), lambda: classifier(doc="x" * (8 << 20))),
    "doc_string_nested_json": (HostileFile("resource bomb", 1, "H4"), lambda: classifier(doc="[" * 200_000)),
    "expand_to_40gb": (HostileFile("resource bomb", 1, "H2", True), expand_bomb),
    # malformed graphs
    "cycle": (HostileFile("malformed graph", 1, "H5"), cycle),
    "undefined_tensor": (HostileFile("malformed graph", 1, "H5"), undefined_tensor),
    "shadowed_input": (HostileFile("malformed graph", 1, "H5"), shadowed_input),
    "shadowed_initializer": (HostileFile("malformed graph", 1, "H5"), shadowed_initializer),
    "duplicate_outputs": (HostileFile("malformed graph", 1, "H5"), duplicate_outputs),
    "duplicate_inputs": (HostileFile("malformed graph", 1, "H5"), duplicate_inputs),
    # non-finite and non-positive normalization (C3)
    "vars_infinity": (HostileFile("non-finite numbers", 1, "C3"),
                      lambda: classifier(doc=DOC.format(means="[0, 0, 0]", vars="[1e999, 1, 1]"))),
    "means_nan": (HostileFile("non-finite numbers", 1, "C3"),
                  lambda: classifier(doc=DOC.format(means="[NaN, 0, 0]", vars="[1, 1, 1]"))),
    "means_minus_infinity": (HostileFile("non-finite numbers", 1, "C3"),
                             lambda: classifier(doc=DOC.format(means="[-Infinity, 0, 0]", vars="[1, 1, 1]"))),
    "vars_negative": (HostileFile("non-finite numbers", 1, "C3"),
                      lambda: classifier(doc=DOC.format(means="[0, 0, 0]", vars="[-58.4, 57.1, 57.4]"))),
    # class names with control / invisible characters (E2)
    "class_name_nul": (HostileFile("control characters", 1, "E2"), lambda: classifier(name="scores-0:c\x00at;1:dog;2:car;3:bus")),
    "class_name_escape": (HostileFile("control characters", 1, "E2"),
                          lambda: classifier(name="scores-0:cat;1:\x1b[2Jdog;2:car;3:bus")),
    "class_name_bidi_override": (HostileFile("control characters", 1, "E2"),
                                 lambda: classifier(name="scores-0:cat;1:dog\u202e;2:car;3:bus")),
    "class_name_line_separator": (HostileFile("control characters", 1, "E2"),
                                  lambda: classifier(name="scores-0:cat;1:dog\u2028x;2:car;3:bus")),
}


def _external(folder: Path, name: str, location: str) -> Path:
    """A classifier whose weights claim to live in `location` (never created here)."""
    model = classifier()
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "48")):
        w.external_data.add(key=key, value=value)
    sub = folder / name
    sub.mkdir()
    path = sub / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def _write_special(folder: Path) -> dict[str, tuple[HostileFile, Path]]:
    out: dict[str, tuple[HostileFile, Path]] = {}
    secret = folder / "outside_secret.bin"
    secret.write_bytes(np.ones(12, np.float32).tobytes())
    out["external_dotdot"] = (HostileFile("path traversal", 1), _external(folder, "ext_dotdot", "../outside_secret.bin"))
    out["external_absolute"] = (HostileFile("path traversal", 1), _external(folder, "ext_abs", str(secret)))
    out["external_missing"] = (HostileFile("path traversal", 1), _external(folder, "ext_missing", "weights.bin"))
    linked = _external(folder, "ext_symlink", "weights.bin")
    os.symlink(secret, linked.parent / "weights.bin")
    out["external_symlink_outside"] = (HostileFile("path traversal", 1), linked)
    # files that are not models
    zipped = folder / "zip.onnx"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("model.onnx", classifier().SerializeToString())
    out["zip"] = (HostileFile("not a model", 2), zipped)
    rand = folder / "random.onnx"
    rand.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    out["random_bytes"] = (HostileFile("not a model", 2), rand)
    empty = folder / "empty.onnx"
    empty.write_bytes(b"")
    out["empty"] = (HostileFile("not a model", 2), empty)
    fifo = folder / "fifo.onnx"
    os.mkfifo(fifo)  # reading it would block forever
    out["named_pipe"] = (HostileFile("not a model", 2), fifo)
    zero = folder / "dev_zero.onnx"
    os.symlink("/dev/zero", zero)  # reading it would never end
    out["symlink_to_dev_zero"] = (HostileFile("not a model", 2), zero)
    return out


def write_corpus(folder: Path) -> dict[str, tuple[HostileFile, Path]]:
    """Write every hostile entry under `folder`; returns {name: (expectation, path)}."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus: dict[str, tuple[HostileFile, Path]] = {}
    for name, (expect, factory) in MODELS.items():
        path = folder / f"{name}.onnx"
        path.write_bytes(factory().SerializeToString())
        corpus[name] = (expect, path)
    deep = folder / "nested_if_400.onnx"
    deep.write_bytes(nested_ifs_bytes(400))
    corpus["nested_if_400"] = (HostileFile("malformed graph", 2), deep)
    corpus.update(_write_special(folder))
    return corpus


if __name__ == "__main__":  # python tests/hostile_corpus.py OUT_DIR: write the corpus for manual runs
    import sys

    for name, (expect, path) in write_corpus(Path(sys.argv[1])).items():
        print(json.dumps({"name": name, "family": expect.family, "path": str(path)}))
