"""The graph as the preflight reads it: shape-inferred tensors, constants, producers and consumers.

`read_graph` is the one place the preflight reads an artifact (kept in one function so that it can move
to conventions/contract.py with the other artifact readers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from nxport.conventions.targets import Precision

DEFAULT_DOMAINS = ("", "ai.onnx")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


@dataclass
class GraphView:
    model: onnx.ModelProto
    nodes: list  # main-graph NodeProtos, in graph order
    labels: list[str]  # a unique printable name per node
    shapes: dict  # tensor name -> list of int | str | None, or None when unknown
    dtypes: dict  # tensor name -> onnx.TensorProto elem type
    initializers: dict  # tensor name -> TensorProto (initializers and Constant outputs)
    producer: dict  # tensor name -> node index
    consumers: dict  # tensor name -> list of node indices
    graph_inputs: list[str]  # non-initializer inputs
    graph_outputs: list[str]
    folded: set  # tensors computed from constants and static shapes only: compilers fold them
    opset: int
    ir_version: int
    _values: dict = field(default_factory=dict)

    def shape(self, name: str):
        return self.shapes.get(name)

    def rank(self, name: str) -> int | None:
        shape = self.shape(name)
        return None if shape is None else len(shape)

    def is_static(self, name: str) -> bool:
        shape = self.shape(name)
        return shape is not None and all(_static_dim(d) for d in shape)

    def is_constant(self, name: str) -> bool:
        """An initializer, a Constant output, or a tensor the toolchain folds at compile time."""
        return name in self.initializers or name in self.folded

    def is_folded_node(self, index: int) -> bool:
        outputs = [o for o in self.nodes[index].output if o]
        return bool(outputs) and all(o in self.folded or o in self.initializers for o in outputs)

    def value(self, name: str) -> np.ndarray | None:
        """The constant's value (converted lazily: big weight tensors are never touched)."""
        if name not in self.initializers:
            return None
        if name not in self._values:
            self._values[name] = numpy_helper.to_array(self.initializers[name])
        return self._values[name]

    @property
    def precision(self) -> Precision:
        if any(n.op_type in QDQ_OPS for n in self.nodes):
            return Precision.INT8
        fp16 = onnx.TensorProto.FLOAT16
        return Precision.FP16 if any(self.dtypes.get(i) == fp16 for i in self.graph_inputs) else Precision.FP32


def _static_dim(dim) -> bool:
    """A fixed size. 0 is one (an empty tensor, e.g. `like [0]` in the ONNX backend tests), not a free dim:
    a symbolic or unknown dim reads as a str or None here, never as an int."""
    return isinstance(dim, int) and dim >= 0


def op_key(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}:{node.op_type}"


def default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), 0)


def _dims(value_info: onnx.ValueInfoProto):
    tensor = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type") or not tensor.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim]


def read_graph(model: onnx.ModelProto) -> GraphView:
    """Shape-infer a copy of `model` (never the caller's) and index its main graph."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # inference failing on an odd model still leaves the declared shapes to work with
        inferred = model
    graph = inferred.graph
    shapes, dtypes = {}, {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        shapes[vi.name] = _dims(vi)
        dtypes[vi.name] = vi.type.tensor_type.elem_type
    initializers = {t.name: t for t in graph.initializer}
    for t in graph.initializer:
        shapes.setdefault(t.name, list(t.dims))
        dtypes.setdefault(t.name, t.data_type)
    nodes = list(graph.node)
    producer, consumers, labels = {}, {}, []
    for i, node in enumerate(nodes):
        labels.append(node.name or f"{node.op_type}_{i}")
        for out in node.output:
            producer[out] = i
        for inp in node.input:
            if inp:
                consumers.setdefault(inp, []).append(i)
        if node.op_type == "Constant" and node.domain in DEFAULT_DOMAINS:
            tensor = next((a.t for a in node.attribute if a.name == "value"), None)
            if tensor is not None:
                initializers[node.output[0]] = tensor
    graph_inputs = [i.name for i in graph.input if i.name not in initializers]
    folded = _foldable(nodes, initializers, shapes)
    return GraphView(
        model=inferred, nodes=nodes, labels=labels, shapes=shapes, dtypes=dtypes, initializers=initializers,
        producer=producer, consumers=consumers,
        graph_inputs=graph_inputs, graph_outputs=[o.name for o in graph.output], folded=folded,
        opset=default_opset(model), ir_version=model.ir_version,
    )


# Ops whose output is random or whose folding would change the model's meaning.
_NEVER_FOLD = ("RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial")


def _foldable(nodes: list, initializers: dict, shapes: dict) -> set[str]:
    """Outputs computable before run time: from constants, or the Shape/Size of a static tensor.

    Every toolchain here folds these (onnxruntime's constant folding, the RKNN and TIDL model
    optimizers), so shape arithmetic and weight DequantizeLinear nodes are not NPU work.
    """
    folded: set[str] = set()

    def static(name: str) -> bool:
        shape = shapes.get(name)
        return shape is not None and all(_static_dim(d) for d in shape)

    for node in nodes:
        inputs = [i for i in node.input if i]
        if node.op_type in _NEVER_FOLD or node.op_type == "Constant":
            continue
        if node.op_type in ("Shape", "Size") and inputs and static(inputs[0]):
            folded.update(o for o in node.output if o)
        elif inputs and all(i in initializers or i in folded for i in inputs):
            folded.update(o for o in node.output if o)
    return folded
