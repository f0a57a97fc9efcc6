"""H4-H5: what a hostile file does to the checker itself - sizes it must not trust, graphs that are
not graphs. Both profiles; the main graph only (subgraphs may read outer-scope names)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict, deque

import onnx

from nxport.conventions import spec
from nxport.conventions.checking.context import ModelContext
from nxport.conventions.checking.registry import finding, rule

BOTH = ("image", "text")
SHOWN = 5  # names listed per finding; a hostile graph can have millions
# TensorProto fields that hold values, by where the data types put them (onnx.proto3 comments).
_DATA_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")
_PACKED_TYPES = {"INT4", "UINT4", "FLOAT4E2M1"}  # two values per byte: counted differently, skipped


def _preview(names) -> str:
    names = list(names)
    shown = ", ".join(repr(n[:60]) for n in names[:SHOWN])
    return shown + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")


def _carried_elements(tensor: onnx.TensorProto) -> int | None:
    """Elements the tensor actually carries; None when the type is not counted here."""
    type_name = onnx.TensorProto.DataType.Name(tensor.data_type) if tensor.data_type in onnx.TensorProto.DataType.values() else ""
    if type_name in _PACKED_TYPES or not type_name or type_name == "UNDEFINED":
        return None
    if tensor.HasField("raw_data"):
        if type_name == "STRING":
            return None
        itemsize = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize
        return len(tensor.raw_data) // itemsize
    per_value = 2 if type_name in ("COMPLEX64", "COMPLEX128") else 1
    return sum(len(getattr(tensor, name)) for name in _DATA_FIELDS) // per_value


def _initializer_problem(tensor: onnx.TensorProto) -> str | None:
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None  # A5 and onnx.checker handle external data, by path, inside the model's folder
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        return f"initializer {tensor.name[:60]!r} has negative dims {dims}"
    declared = math.prod(dims)
    carried = _carried_elements(tensor)
    if carried is None or carried == declared:
        return None
    size = f"{declared:,}" if declared < 10**15 else f"{declared:.3g}"
    return f"initializer {tensor.name[:60]!r} declares {size} elements (dims {dims}) but carries {carried:,}"


@rule("H4", profiles=BOTH)
def static_limits(ctx: ModelContext):
    """graph.doc_string within its size limit; every initializer carries the data its dims declare."""
    cap = spec.limit("doc_string_bytes_max")
    for where, text in (("graph.doc_string", ctx.model.graph.doc_string), ("ModelProto.doc_string", ctx.model.doc_string)):
        if len(text) > cap:
            yield finding("H4", f"{where} is {len(text):,} characters; the checker reads at most {cap:,} "
                          "(the normalization JSON needs under 100)")
    problems = [p for p in map(_initializer_problem, ctx.model.graph.initializer) if p]
    for problem in problems[:SHOWN]:
        yield finding("H4", f"{problem}; onnxruntime would refuse it or read past the data")
    if len(problems) > SHOWN:
        yield finding("H4", f"{len(problems) - SHOWN} more initializers whose data does not match their dims")


def _duplicates(names) -> list[str]:
    return [name for name, count in Counter(names).items() if count > 1]


@rule("H5", profiles=BOTH)
def graph_structure(ctx: ModelContext):
    """Unique graph input/output names; each tensor defined once, before use; no cycles."""
    graph = ctx.model.graph
    for kind, values in (("input", graph.input), ("output", graph.output)):
        dups = _duplicates(v.name for v in values)
        if dups:
            yield finding("H5", f"graph {kind} names appear more than once: {_preview(dups)}; Nx binds "
                          f"{kind}s by name, so each must be unique")
    sources = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    produced = [o for node in graph.node for o in node.output if o]
    shadowed = sorted({o for o in produced if o in sources} | set(_duplicates(produced)))
    if shadowed:
        yield finding("H5", f"tensors defined more than once (a node output reuses a graph input, initializer or "
                      f"another node's output): {_preview(shadowed)}")
    known = sources | set(produced)
    undefined = sorted({i for node in graph.node for i in node.input if i and i not in known}
                       | {o.name for o in graph.output if o.name not in known})
    if undefined:
        yield finding("H5", f"tensors used but never defined: {_preview(undefined)}")
    stuck = _unschedulable(graph, sources)
    if stuck:
        yield finding("H5", f"the graph has a cycle: {len(stuck)} nodes can never run because they wait on "
                      f"each other or on the cycle (outputs {_preview(stuck)}); an ONNX graph must be acyclic")


def _unschedulable(graph: onnx.GraphProto, sources: set[str]) -> list[str]:
    """Outputs of nodes that can never run because they depend on each other (Kahn's algorithm).

    Only edges between nodes count: undefined inputs are reported separately."""
    producer = {}
    for index, node in enumerate(graph.node):
        for out in node.output:
            producer.setdefault(out, index)
    waiting = [0] * len(graph.node)
    consumers = defaultdict(list)
    for index, node in enumerate(graph.node):
        for name in set(node.input):
            if name and name not in sources and name in producer and producer[name] != index:
                waiting[index] += 1
                consumers[producer[name]].append(index)
            elif name and name not in sources and producer.get(name) == index:
                waiting[index] += 1  # a node that reads its own output
    ready = deque(i for i, count in enumerate(waiting) if count == 0)
    done = 0
    while ready:
        index = ready.popleft()
        done += 1
        for consumer in consumers[index]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    if done == len(graph.node):
        return []
    return [node.output[0] if node.output else node.op_type for i, node in enumerate(graph.node) if waiting[i] > 0]
