"""Load an Nx artifact for serving and describe it.

Everything comes from the artifact itself: the task from the output name's kind (`scores-` ->
classification with the labels in the name, `embedding-` -> embedding, a `tokens-` input -> the
text tower of a CLIP pair), the preprocessing from graph.doc_string and the input shape (exactly
what the device does, `conventions.nx_input`), INT8 from QDQ nodes or the `nxport.int8` metadata,
provenance from `metadata_props["nxport"]`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from conventions.normalization import Normalization
from conventions.nx_input import InputLayout
from serving.batching import BatchRunner
from serving.errors import ArtifactError, TokenizerError
from serving.settings import Settings

INT8_METADATA_KEY = "nxport.int8"
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
TEXT_INPUT_PREFIX = "tokens-"
PAIR_SUFFIXES = {"_img": "image", "_txt": "text"}
DETECTOR_INPUTS = ("nms_sensitivity-", "mask-")


class Task(str, Enum):
    CLASSIFICATION = "classification"
    EMBEDDING = "embedding"
    TEXT_EMBEDDING = "text-embedding"
    DETECTION = "detection"


@dataclass(frozen=True)
class ArtifactSpec:
    """What the graph declares: inputs, the served output, task, preprocessing."""

    task: Task
    input_name: str
    input_shape: tuple[int, ...]
    input_dtype: str
    output_name: str
    output_shape: tuple
    layout: InputLayout | None
    normalization: Normalization | None
    labels: tuple[str, ...] = ()
    dimension: int | None = None
    normalized_in_graph: bool = False


@dataclass
class ServedModel:
    name: str
    path: Path
    spec: ArtifactSpec
    runner: BatchRunner
    opset: int
    ir_version: int
    int8: dict | None
    provenance: dict
    companion: str | None = None  # the other tower of a CLIP pair
    _tokenizer: object = field(default=None, repr=False)
    _tokenizer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def task(self) -> Task:
        return self.spec.task

    def tokenizer(self):
        """`exporters.clip_tokenizer.load_tokenizer(artifact dir)`, loaded once, on first use."""
        if self.task is not Task.TEXT_EMBEDDING:
            raise TokenizerError(f"Model {self.name!r} has no text tower (it is a {self.task.value} model)")
        with self._tokenizer_lock:
            if self._tokenizer is None:
                self._tokenizer = _load_tokenizer(self.name, tokenizer_directory(self.path, self.provenance))
            return self._tokenizer

    def set_tokenizer(self, tokenizer) -> None:
        """Inject a tokenizer callable (list[str] -> int64 (N, context)) instead of the lazy import."""
        self._tokenizer = tokenizer

    def info(self) -> dict:
        return model_info(self)


def tokenizer_directory(path: Path, provenance: dict) -> Path:
    """The exporter writes `<name>_tokenizer/` beside `<name>_txt.onnx` and names it in the provenance;
    hand-made pairs may keep vocab.json / merges.txt right beside the artifact."""
    named = (provenance.get("pair") or {}).get("tokenizer")
    candidates = [path.parent / named] if named else []
    candidates.append(path.parent / f"{path.stem.removesuffix('_txt')}_tokenizer")
    return next((c for c in candidates if (c / "vocab.json").is_file()), path.parent)


def _load_tokenizer(name: str, directory: Path):
    try:
        from exporters.clip_tokenizer import load_tokenizer
    except ImportError as exc:
        raise TokenizerError(f"Model {name!r} is a text tower but the tokenizer is not available "
                             f"(exporters.clip_tokenizer cannot be imported: {exc})") from exc
    try:
        return load_tokenizer(directory)
    except Exception as exc:  # missing vocab.json/merges.txt or a broken file: the message says which
        raise TokenizerError(f"Model {name!r}: the tokenizer in {directory.name!r} cannot be loaded "
                             f"({type(exc).__name__}: {exc}); vocab.json and merges.txt belong beside "
                             "the artifact") from exc


def _dims(value) -> tuple:
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in value.type.tensor_type.shape.dim)


def _graph_inputs(model) -> list:
    initializers = {init.name for init in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def _served_output(model, path: Path):
    from conventions.names import parse_output_name

    for output in model.graph.output:
        parsed = parse_output_name(output.name)
        if parsed.kind in ("scores", "embedding", "bboxes"):
            return output, parsed
    names = [o.name[:60] for o in model.graph.output]
    raise ArtifactError(f"{path.name}: no output named scores-... or embedding-... or bboxes-... (outputs: "
                        f"{names}); alarm- models are not served yet",
                        fix="serve a classification, embedding or detection artifact exported by nxport")


def _normalization(model, path: Path) -> Normalization:
    from conventions.normalization import DocStringError, parse_doc_string

    try:
        return parse_doc_string(model.graph.doc_string)
    except DocStringError as exc:
        raise ArtifactError(f"{path.name}: {exc}; the server preprocesses exactly like the device, which "
                            "reads means/vars from graph.doc_string (rule C2)",
                            fix=f"re-export, or check it with `python -m conventions {path}`") from exc


def _labels(parsed) -> tuple[str, ...]:
    pairs = sorted((int(k), v) for k, v in parsed.class_pairs() if k.isdigit())
    return tuple(name for _, name in pairs)


def _image_layout(value, path: Path) -> InputLayout:
    shape = _dims(value)
    if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape[1:]):
        raise ArtifactError(f"{path.name}: image input {value.name!r} has shape {list(shape)}; expected "
                            "static (1,C,H,W) or (1,H,W,C) (rules B1, B4, B6)")
    return InputLayout.from_shape((1, *shape[1:]))


def inspect_artifact(model, path: Path) -> ArtifactSpec:
    """Task, input, output and preprocessing declared by the graph; ArtifactError if unservable."""
    from onnx import TensorProto

    output, parsed = _served_output(model, path)
    # a detector's optional inputs (rule B9) are fed by the server itself
    inputs = [i for i in _graph_inputs(model) if parsed.kind != "bboxes" or i.name not in DETECTOR_INPUTS]
    text = [i for i in inputs if i.name.startswith(TEXT_INPUT_PREFIX)]
    images = [i for i in inputs if i.type.tensor_type.elem_type == TensorProto.FLOAT and len(_dims(i)) == 4]
    value = (text or images or [None])[0]
    if value is None or len(inputs) != 1:
        raise ArtifactError(f"{path.name}: inputs {[i.name for i in inputs]}; the server feeds exactly one "
                            f"image input (float32 rank 4) or one {TEXT_INPUT_PREFIX} int64 input")
    pairs = dict(parsed.pairs)
    common = {"input_name": value.name, "input_shape": _dims(value), "output_name": output.name,
              "output_shape": _dims(output)}
    if text:
        if parsed.kind != "embedding":
            raise ArtifactError(f"{path.name}: a {TEXT_INPUT_PREFIX} input needs an embedding-... output")
        return ArtifactSpec(Task.TEXT_EMBEDDING, input_dtype="int64", layout=None, normalization=None,
                            dimension=_dimension(pairs, output), normalized_in_graph=pairs.get("norm") == "l2",
                            **common)
    layout, norm = _image_layout(value, path), _normalization(model, path)
    if parsed.kind in ("scores", "bboxes"):
        task = Task.CLASSIFICATION if parsed.kind == "scores" else Task.DETECTION
        return ArtifactSpec(task, input_dtype="float32", layout=layout, normalization=norm,
                            labels=_labels(parsed), **common)
    return ArtifactSpec(Task.EMBEDDING, input_dtype="float32", layout=layout, normalization=norm,
                        dimension=_dimension(pairs, output), normalized_in_graph=pairs.get("norm") == "l2",
                        **common)


def _dimension(pairs: dict, output) -> int | None:
    if str(pairs.get("dim", "")).isdigit():
        return int(pairs["dim"])
    last = _dims(output)[-1:] or (None,)
    return last[0] if isinstance(last[0], int) else None


def int8_info(model) -> dict | None:
    """None for a float artifact; else how it was quantized (QDQ node count, nxport.int8 settings)."""
    qdq = sum(node.op_type in QDQ_OPS for node in model.graph.node)
    stamp = next((entry.value for entry in model.metadata_props if entry.key == INT8_METADATA_KEY), None)
    if not qdq and stamp is None:
        return None
    try:
        settings = json.loads(stamp) if stamp else None
    except json.JSONDecodeError:
        settings = {"unparsed": stamp[:200]}
    return {"format": "QDQ" if qdq else "unknown", "qdq_nodes": qdq, "settings": settings}


def _samples(spec: ArtifactSpec) -> np.ndarray:
    """Two distinct inputs for the load-time run (and the batching check)."""
    rng = np.random.default_rng(0)
    shape = (2, *spec.input_shape[1:])
    if spec.task is Task.TEXT_EMBEDDING:
        return rng.integers(0, 64, size=shape, dtype=np.int64)
    return rng.standard_normal(shape).astype(np.float32)


def load_model(path: Path, settings: Settings, name: str | None = None) -> ServedModel:
    import onnx

    from exporters.metadata import read_provenance
    from serving.batching import build_runner

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"Model file {str(path)!r} does not exist", fix="pass the path of an .onnx artifact")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, OSError...: not an ONNX file
        raise ArtifactError(f"{path.name} is not a readable ONNX model ({type(exc).__name__}: {exc})") from exc
    spec = inspect_artifact(model, path)
    try:
        if spec.task is Task.DETECTION:
            from serving.detection import detection_runner

            runner = detection_runner(model, spec, settings.intra_op_threads)
        else:
            runner = build_runner(model, spec.input_name, spec.output_name, _samples(spec),
                                  threads=settings.intra_op_threads, max_batch=settings.max_batch,
                                  mode=settings.batching)
    except Exception as exc:  # onnxruntime refuses the graph or cannot run it: not servable
        raise ArtifactError(f"{path.name} does not load or run in onnxruntime ({type(exc).__name__}: "
                            f"{str(exc)[:300]})", fix=f"check it with `python -m conventions {path}`") from exc
    try:
        provenance = read_provenance(model)
    except json.JSONDecodeError:
        provenance = {}
    return ServedModel(name=name or model_name(path), path=path, spec=spec, runner=runner,
                       opset=_default_opset(model), ir_version=int(model.ir_version), int8=int8_info(model),
                       provenance=provenance)


def _default_opset(model) -> int:
    return next((int(op.version) for op in model.opset_import if op.domain in ("", "ai.onnx")), 0)


def model_name(path: Path) -> str:
    """`build/lite0.onnx` -> `lite0`; `lite0.int8.onnx` -> `lite0.int8`."""
    name = Path(path).name
    return name[:-5] if name.endswith(".onnx") else Path(path).stem


def load_models(paths, settings: Settings) -> list[ServedModel]:
    """Load every artifact, refuse duplicate names, and link the towers of CLIP pairs (X_img / X_txt)."""
    if not paths:
        raise ArtifactError("No model to serve", fix="pass artifact paths (python -m serving MODEL.onnx) "
                            "or set NXPORT_MODELS=a.onnx,b.onnx")
    models = [load_model(Path(p), settings) for p in paths]
    seen: dict[str, Path] = {}
    for model in models:
        if model.name in seen:
            raise ArtifactError(f"Two artifacts are both named {model.name!r}: {seen[model.name]} and {model.path}",
                                fix="rename one of the files; the model name is the file name without .onnx")
        seen[model.name] = model.path
    link_pairs(models)
    return models


def link_pairs(models: list[ServedModel]) -> None:
    by_name = {m.name: m for m in models}
    for model in models:
        for suffix in PAIR_SUFFIXES:
            other_suffix = "_txt" if suffix == "_img" else "_img"
            if model.name.endswith(suffix):
                other = by_name.get(model.name[: -len(suffix)] + other_suffix)
                if other is not None and (model.task is Task.TEXT_EMBEDDING) != (other.task is Task.TEXT_EMBEDDING):
                    model.companion = other.name


def _preprocessing_info(model: ServedModel) -> dict:
    spec = model.spec
    if spec.task is Task.TEXT_EMBEDDING:
        return {"tokenizer": "exporters.clip_tokenizer.load_tokenizer (vocab.json, merges.txt beside the "
                             "artifact)", "context_length": spec.input_shape[-1]}
    layout, norm = spec.layout, spec.normalization
    return {"resize": f"stretch to {layout.height}x{layout.width} (bilinear, no crop), as the Nx runtime does",
            "color": "gray" if layout.channels == 1 else "RGB",
            "layout": "NCHW" if layout.channels_first else "NHWC",
            "means": list(norm.means), "vars": list(norm.vars), "scale": "0..255",
            "exif": "rotated upright", "alpha": "composited on white"}


def model_info(model: ServedModel) -> dict:
    import onnxruntime

    spec = model.spec
    info = {
        "name": model.name, "file": model.path.name, "task": spec.task.value,
        "input": {"name": spec.input_name, "shape": list(spec.input_shape), "dtype": spec.input_dtype},
        "output": {"name": spec.output_name if len(spec.output_name) <= 120 else spec.output_name[:117] + "...",
                   "shape": list(spec.output_shape)},
        "preprocessing": _preprocessing_info(model),
        "opset": model.opset, "ir_version": model.ir_version,
        "int8": model.int8 is not None, "quantization": model.int8,
        "batching": model.runner.describe(),
        "versions": {**model.provenance.get("versions", {}), "onnxruntime": onnxruntime.__version__},
        "source": model.provenance.get("source"),
    }
    if spec.task in (Task.CLASSIFICATION, Task.DETECTION):
        info["labels_count"] = len(spec.labels)
    else:
        info["dimension"] = spec.dimension
        info["normalized_in_graph"] = spec.normalized_in_graph
    if model.companion:
        info["text_tower" if spec.task is Task.EMBEDDING else "image_tower"] = model.companion
    return info
