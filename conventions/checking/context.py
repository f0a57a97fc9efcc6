"""Loading any ONNX source without crashing, and the parsed view of it that every rule reads."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from nxport.conventions import spec
from nxport.conventions.kinds import TEXT_INPUT, optional_input_names
from nxport.conventions.names import ParsedName, parse_output_name
from nxport.conventions.normalization import DocStringError, Normalization, parse_doc_string

OPTIONAL_INPUTS = optional_input_names()  # what the kinds declare (rule B9)
DEFAULT_DOMAINS = ("", "ai.onnx")
__all__ = ["OPTIONAL_INPUTS", "TEXT_INPUT", "Loaded", "ModelContext", "TensorInfo", "build_context", "load_source"]
PROFILES = ("image", "text")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    elem_type: int  # onnx.TensorProto.DataType; 0 when the value_info has no tensor type
    shape: list[int | str | None] | None  # None: no shape recorded; str: symbolic dim; None dim: unknown

    @property
    def dtype_name(self) -> str:
        if self.elem_type == 0:
            return "undefined"
        return onnx.TensorProto.DataType.Name(self.elem_type).lower()

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) and d > 0 for d in self.shape)


@dataclass
class RuntimeRun:
    """The bounded onnxruntime stage's hand-over to the reference-runtime stage: that it ran (so a model
    that hit a limit is never run into it twice) and, when the run completed on a feed Nx would send,
    the feeds and outputs to compare against (empty otherwise)."""

    feeds: dict = field(default_factory=dict)  # input name -> np.ndarray
    outputs: dict = field(default_factory=dict)  # output name -> np.ndarray


@dataclass
class ModelContext:
    model: onnx.ModelProto
    path: str | None
    profile: str
    inputs: list[TensorInfo]  # graph inputs that are not initializers
    outputs: list[TensorInfo]
    parsed_outputs: dict[str, ParsedName]
    normalization: Normalization | None
    doc_error: DocStringError | None
    # What the stages hand each other (typed, so a renamed key cannot silently read as "absent"):
    rule_seconds: dict[str, float] = field(default_factory=dict)  # per rule id: the CI summary names the slowest
    runtime_run: RuntimeRun | None = None  # set by the bounded onnxruntime stage once it has been tried

    @property
    def image_candidates(self) -> list[TensorInfo]:
        return [t for t in self.inputs if t.name not in OPTIONAL_INPUTS]

    @property
    def image_input(self) -> TensorInfo | None:
        """The input Nx feeds the frame to: `image-` if present, else the only rank-4 candidate. A lone
        string or shapeless input is no image: every rule about the image (B2-B7, C) speaks only of an
        input identified here, so none can contradict B1's "no rank-4 input"."""
        candidates = self.image_candidates
        named = [t for t in candidates if t.name == "image-"]
        rank4 = [t for t in candidates if t.rank == 4]
        for group in (named, rank4):
            if len(group) == 1:
                return group[0]
        return None

    def outputs_of_kind(self, kind: str) -> list[tuple[TensorInfo, ParsedName]]:
        return [(t, self.parsed_outputs[t.name]) for t in self.outputs if self.parsed_outputs[t.name].kind == kind]


@dataclass
class Loaded:
    model: onnx.ModelProto | None
    path: str | None
    label: str
    error: str | None = None  # why the source is unreadable
    rule_id: str = "A3"  # H4 when the checker refused it for its size


def _tensor_info(value_info: onnx.ValueInfoProto) -> TensorInfo:
    tensor_type = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type"):
        return TensorInfo(value_info.name, 0, None)
    shape = None
    if tensor_type.HasField("shape"):
        shape = []
        for dim in tensor_type.shape.dim:
            if dim.HasField("dim_value"):
                shape.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                shape.append(dim.dim_param)
            else:
                shape.append(None)
    return TensorInfo(value_info.name, tensor_type.elem_type, shape)


def _parse_bytes(data: bytes, label: str, path: str | None) -> Loaded:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError, RuntimeWarning-as-error, ValueError...
        return Loaded(None, path, label, f"not an ONNX protobuf ({type(exc).__name__}: {exc})")
    return _require_graph(model, path, label)


def _require_graph(model: onnx.ModelProto, path: str | None, label: str) -> Loaded:
    # Almost any byte string parses as *some* protobuf; a model needs a graph with outputs.
    if not model.HasField("graph") or not (model.graph.node or model.graph.output):
        return Loaded(None, path, label, "parses as protobuf but holds no ONNX graph (no nodes, no outputs)")
    return Loaded(model, path, label)


def _too_large(size: int, label: str, path: str | None) -> Loaded | None:
    cap = spec.limit("file_bytes_max")
    if size <= cap:
        return None
    return Loaded(None, path, label, f"{size:,} bytes, over the limit of {cap:,} (protobuf cannot hold a model "
                  "this large in one file); not read", rule_id="H4")


def _file_problem(path: Path) -> str | None:
    """Why `path` is no regular file. A FIFO would block read() forever, /dev/zero never ends."""
    try:
        mode = path.stat().st_mode  # follows symlinks: a link to /dev/zero is a device
    except FileNotFoundError:
        return "file does not exist"
    except OSError as exc:  # a symlink loop, a permission problem
        return f"cannot stat file ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return "is a directory, not an .onnx file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a device, FIFO or socket); not read"
    return None


def load_source(source) -> Loaded:
    """A path, bytes or ModelProto -> Loaded; never raises for a bad file, never reads unbounded."""
    if isinstance(source, onnx.ModelProto):
        return _require_graph(source, None, f"<ModelProto {source.graph.name or 'unnamed'}>")
    if isinstance(source, (bytes, bytearray)):
        label = f"<{len(source)} bytes>"
        return _too_large(len(source), label, None) or _parse_bytes(bytes(source), label, None)
    if not isinstance(source, (str, os.PathLike)):
        return Loaded(None, None, repr(source)[:80], f"unsupported source type {type(source).__name__}")
    path = Path(source)
    label = str(path)
    problem = _file_problem(path)
    if problem:
        return Loaded(None, label, label, problem)
    refused = _too_large(path.stat().st_size, label, label)
    if refused:
        return refused
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Loaded(None, label, label, f"cannot read file ({exc.strerror or exc})")
    if not data:
        return Loaded(None, label, label, "file is empty (0 bytes)")
    return _parse_bytes(data, label, str(path.resolve()))


def detect_profile(model: onnx.ModelProto) -> str:
    initializers = {t.name for t in model.graph.initializer}
    names = {i.name for i in model.graph.input if i.name not in initializers}
    return "text" if TEXT_INPUT in names else "image"


def build_context(loaded: Loaded, profile: str | None) -> ModelContext:
    model = loaded.model
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    inputs = [_tensor_info(i) for i in graph.input if i.name not in initializers]
    outputs = [_tensor_info(o) for o in graph.output]
    normalization, doc_error = None, None
    doc_cap = spec.limit("doc_string_bytes_max")
    try:
        if len(graph.doc_string) > doc_cap:  # never parse megabytes of JSON from a stranger (H4)
            raise DocStringError(f"graph.doc_string is {len(graph.doc_string):,} characters, over the "
                                 f"checker's limit of {doc_cap:,} (rule H4); not parsed")
        normalization = parse_doc_string(graph.doc_string)
    except DocStringError as exc:
        doc_error = exc
    return ModelContext(
        model=model,
        path=loaded.path,
        profile=profile or detect_profile(model),
        inputs=inputs,
        outputs=outputs,
        parsed_outputs={o.name: parse_output_name(o.name) for o in outputs},
        normalization=normalization,
        doc_error=doc_error,
    )


def iter_nodes(model: onnx.ModelProto) -> Iterator[tuple[onnx.NodeProto, str]]:
    """Every node with where it lives: the main graph, If/Loop/Scan bodies, and local functions."""
    yield from _iter_graph(model.graph, "graph")
    for function in model.functions:
        for node in function.node:
            yield from _iter_node(node, f"function {function.domain}.{function.name}")


def _iter_graph(graph: onnx.GraphProto, where: str) -> Iterator[tuple[onnx.NodeProto, str]]:
    for node in graph.node:
        yield from _iter_node(node, where)


def _iter_node(node: onnx.NodeProto, where: str) -> Iterator[tuple[onnx.NodeProto, str]]:
    yield node, where
    for attr in node.attribute:
        node_label = f"{node.op_type} {node.name!r}" if node.name else node.op_type
        label = f"{where} > {node_label}.{attr.name}"
        if attr.type == onnx.AttributeProto.GRAPH:
            yield from _iter_graph(attr.g, label)
        elif attr.type == onnx.AttributeProto.GRAPHS:
            for sub in attr.graphs:
                yield from _iter_graph(sub, label)
