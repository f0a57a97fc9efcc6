"""Load an Nx artifact for serving and describe it.

Everything comes from the artifact itself: the task from the output name's kind (`scores-` ->
classification with the labels in the name, `embedding-` -> embedding, a `tokens-` input -> the
text tower of a CLIP pair), the preprocessing from graph.doc_string and the input shape (exactly
what the device does, `conventions.nx_input`), INT8 from QDQ nodes or the `nxport.int8` metadata,
provenance from `metadata_props["nxport"]`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from nxport.conventions.contract import Contract, OutputKind, Profile, read_contract
from nxport.conventions.kinds import TEXT_INPUT, all_kinds
from nxport.conventions.normalization import Normalization
from nxport.conventions.nx_input import InputLayout
from nxport.serving.batching import BatchRunner
from nxport.serving.errors import ArtifactError, TokenizerError
from nxport.serving.settings import Settings

TEXT_INPUT_PREFIX = TEXT_INPUT
PAIR_SUFFIXES = {"_img": "image", "_txt": "text"}


class Task(str, Enum):
    CLASSIFICATION = "classification"
    EMBEDDING = "embedding"
    TEXT_EMBEDDING = "text-embedding"
    DETECTION = "detection"


# The task that answers on each kind's serving route (conventions.kinds: ArtifactKind.route).
ROUTE_TASKS = {"/classify": Task.CLASSIFICATION, "/detect": Task.DETECTION, "/embed": Task.EMBEDDING}


@dataclass(frozen=True)
class Companion:
    """An output served beside the primary one, in the primary route's response (a classifier's
    `alarm-` flags): `field` is the key it adds to each entry, `width` its values per sample."""

    output_name: str
    field: str
    width: int


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
    companions: tuple[Companion, ...] = ()

    @property
    def width(self) -> int:
        """Values per sample of the primary output (the rest of a joined row belongs to the companions)."""
        return int(np.prod([d for d in self.output_shape[1:] if isinstance(d, int)] or [1]))


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
        from nxport.exporters.clip_tokenizer import load_tokenizer
    except ImportError as exc:
        raise TokenizerError(f"Model {name!r} is a text tower but the tokenizer is not available "
                             f"(exporters.clip_tokenizer cannot be imported: {exc})") from exc
    try:
        return load_tokenizer(directory)
    except Exception as exc:  # missing vocab.json/merges.txt or a broken file: the message says which
        raise TokenizerError(f"Model {name!r}: the tokenizer in {directory.name!r} cannot be loaded "
                             f"({type(exc).__name__}: {exc}); vocab.json and merges.txt belong beside "
                             "the artifact") from exc


SERVED_KINDS = tuple(OutputKind(k.name) for k in all_kinds() if k.route in ROUTE_TASKS)


def companions(contract: Contract) -> tuple[Companion, ...]:
    """Outputs of kinds that ride on the primary kind's route (conventions.kinds: rides_on)."""
    found = []
    for kind in all_kinds():
        t = contract.companion(OutputKind(kind.name)) if kind.rides_on == contract.kind.value else None
        if t is not None and t.shape and all(isinstance(d, int) for d in t.shape):
            found.append(Companion(t.name, kind.response_field, int(np.prod(t.shape[1:]))))
    return tuple(found)


def inspect_artifact(contract: Contract) -> ArtifactSpec:
    """Task, input, output and preprocessing, all from the artifact's contract (conventions.contract);
    refused (ArtifactContractError, with the checker's rule ids) exactly when the checker refuses it."""
    contract.require("served", profiles=(Profile.IMAGE, Profile.TEXT), kinds=SERVED_KINDS)
    common = {"input_name": contract.input.name, "input_shape": contract.input_shape,
              "output_name": contract.output.name, "output_shape": tuple(contract.output.shape or ())}
    if contract.profile is Profile.TEXT:
        if contract.kind is not OutputKind.EMBEDDING:
            raise ArtifactError(f"{contract.source}: a {TEXT_INPUT_PREFIX} input needs an embedding-... output")
        return ArtifactSpec(Task.TEXT_EMBEDDING, input_dtype="int64", layout=None, normalization=None,
                            dimension=contract.embedding.dim,
                            normalized_in_graph=contract.embedding.normalized_in_graph, **common)
    image = {"input_dtype": "float32", "layout": contract.layout, "normalization": contract.normalization}
    task = ROUTE_TASKS[contract.kind_spec.route]
    if task is not Task.EMBEDDING:  # a detector's B9 inputs are fed by the server
        return ArtifactSpec(task, labels=contract.labels, companions=companions(contract), **image, **common)
    return ArtifactSpec(Task.EMBEDDING, dimension=contract.embedding.dim,
                        normalized_in_graph=contract.embedding.normalized_in_graph, **image, **common)


def int8_info(contract: Contract) -> dict | None:
    """None for a float artifact; else how it was quantized (QDQ node count, nxport.int8 settings)."""
    if contract.int8 is None:
        return None
    return {"format": "QDQ" if contract.int8.qdq_nodes else "unknown", "qdq_nodes": contract.int8.qdq_nodes,
            "settings": contract.int8.settings}


def _samples(spec: ArtifactSpec) -> np.ndarray:
    """Two distinct inputs for the load-time run (and the batching check)."""
    rng = np.random.default_rng(0)
    shape = (2, *spec.input_shape[1:])
    if spec.task is Task.TEXT_EMBEDDING:
        return rng.integers(0, 64, size=shape, dtype=np.int64)
    return rng.standard_normal(shape).astype(np.float32)


def load_model(path: Path, settings: Settings, name: str | None = None) -> ServedModel:
    import onnx

    from nxport.serving.batching import build_runner

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"Model file {str(path)!r} does not exist", fix="pass the path of an .onnx artifact")
    contract = read_contract(path)
    spec = inspect_artifact(contract)
    model = onnx.load(str(path))
    try:
        if spec.task is Task.DETECTION:
            from nxport.serving.detection import detection_runner

            runner = detection_runner(model, spec, settings.intra_op_threads)
        else:
            runner = build_runner(model, spec.input_name, spec.output_name, _samples(spec),
                                  threads=settings.intra_op_threads, max_batch=settings.max_batch,
                                  mode=settings.batching, extra_outputs=tuple(c.output_name for c in spec.companions))
    except Exception as exc:  # onnxruntime refuses the graph or cannot run it: not servable
        raise ArtifactError(f"{path.name} does not load or run in onnxruntime ({type(exc).__name__}: "
                            f"{str(exc)[:300]})", fix=f"check it with `python -m nxport.conventions {path}`") from exc
    return ServedModel(name=name or model_name(path), path=path, spec=spec, runner=runner,
                       opset=contract.opset or 0, ir_version=contract.ir_version, int8=int8_info(contract),
                       provenance=contract.provenance)


def model_name(path: Path) -> str:
    """`build/lite0.onnx` -> `lite0`; `lite0.int8.onnx` -> `lite0.int8`."""
    name = Path(path).name
    return name[:-5] if name.endswith(".onnx") else Path(path).stem


def load_models(paths, settings: Settings) -> list[ServedModel]:
    """Load every artifact, refuse duplicate names, and link the towers of CLIP pairs (X_img / X_txt)."""
    if not paths:
        raise ArtifactError("No model to serve", fix="pass artifact paths (python -m nxport.serving MODEL.onnx) "
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
        return {"tokenizer": "nxport.exporters.clip_tokenizer.load_tokenizer (vocab.json, merges.txt beside the "
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
        if spec.companions:
            info["companions"] = {c.field: c.output_name[:117] + ("..." if len(c.output_name) > 117 else "")
                                  for c in spec.companions}
    else:
        info["dimension"] = spec.dimension
        info["normalized_in_graph"] = spec.normalized_in_graph
    if model.companion:
        info["text_tower" if spec.task is Task.EMBEDDING else "image_tower"] = model.companion
    return info
