"""Read a raw Ultralytics ONNX export: its metadata, its input, and which detection head it ends in.

The network part of the artifact is the user's graph with a static `image-` input (rules B2-B4) and
IR <= 9 (rule A2); nothing inside it is changed, so the raw head is bit-identical to the original's.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nxport.exporters.detection_config import MAX_TAIL_OPSET, MIN_TAIL_OPSET, HeadLayout
from nxport.core.console import info
from nxport.core.errors import DetectorHeadError, DynamicInputError, WeightsError

INPUT_NAME = "image-"  # rule B2
MAX_IR_VERSION = 9  # rule A2: onnxruntime 1.17 refuses IR 10
CLASSIFIER_TASKS = ("classify",)


@dataclass
class DetectorNetwork:
    model: object  # onnx.ModelProto: static `image-` input -> raw head
    raw_name: str  # the cut: the raw head tensor
    raw_shape: tuple[int, ...]
    cut_node: str  # the node that computes the raw head (what an NPU flow compiles up to)
    layout: HeadLayout
    height: int
    width: int
    opset: int
    num_classes: int | None  # None: an end2end head does not say; the names must
    names: list[str] | None  # from the export's `names` metadata
    source: dict = field(default_factory=dict)  # provenance: file, metadata, original input/IR
    normalization: object = None  # conventions Normalization; None: the exporter's default (Ultralytics /255)
    size_source: str = "static input"  # where (height, width) came from, for the report


def read_metadata(model) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def parse_names(text: str | None) -> list[str] | None:
    """Ultralytics writes `names` as a Python dict repr ({0: 'person', ...}); JSON is accepted too."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(text)  # literals only: never evaluates code
        except (ValueError, SyntaxError):
            return None
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        try:
            ids = sorted(int(k) for k in value)
        except (TypeError, ValueError):
            return None
        if ids == list(range(len(ids))):
            by_id = {int(k): v for k, v in value.items()}
            return [str(by_id[i]) for i in ids]
    return None


def parse_imgsz(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    return None


def load_onnx(path: Path):
    import onnx

    if not path.is_file():
        raise WeightsError(f"Detector weights {str(path)!r} do not exist or are not a file",
                           fix="pass the .onnx written by `yolo export model=best.pt format=onnx`")
    if path.suffix.lower() in (".pt", ".pth"):
        raise WeightsError(f"{path.name} is a PyTorch checkpoint; nxport reads Ultralytics detectors as their raw "
                           "ONNX export (ultralytics is AGPL-3.0 and not a dependency of nxport)",
                           fix=f"run `yolo export model={path.name} format=onnx` and pass the .onnx")
    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError and friends: the file is not ONNX
        raise WeightsError(f"{str(path)!r} is not a readable ONNX file ({type(exc).__name__})",
                           fix="pass the .onnx written by `yolo export model=best.pt format=onnx`") from exc


def _single_image_input(model, path: Path):
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) != 4:
        described = ", ".join(f"{i.name} rank {len(i.type.tensor_type.shape.dim)}" for i in inputs)
        raise DetectorHeadError(f"{path.name} has inputs [{described}]; a detector export has exactly one "
                                "rank-4 image input", fix="export the plain detector (`yolo export format=onnx`)")
    return inputs[0]


def _too_many_outputs(path: Path, shapes: list) -> DetectorHeadError:
    return DetectorHeadError(f"{path.name} has {len(shapes)} outputs of shapes {[list(s) for s in shapes]}; nxport "
                             "decodes one raw YOLO / end2end head, or RetinaFace's loc / conf / landmarks "
                             "(segmentation / pose exports add outputs nxport does not decode)",
                             fix="export a detection model (task=detect) with `yolo export format=onnx`")


def resolve_input_size(value_info, requested: tuple[int, int] | None, imgsz,
                       path: Path) -> tuple[tuple[int, int], str]:
    """-> ((H, W), where it came from): a static input's own size, else --input-size, else the size the
    export was made for (Ultralytics' `imgsz` metadata: what the model was trained and exported at)."""
    dims = value_info.type.tensor_type.shape.dim
    static = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    if static[1] not in (None, 3):
        raise DetectorHeadError(f"{path.name} input {value_info.name!r} has {static[1]} channels at dim 1; "
                                "expected an RGB (1, 3, H, W) input", fix="export the detector with 3-channel input")
    fixed = (static[2], static[3])
    if None not in fixed:
        if requested is not None and tuple(requested) != fixed:
            raise DynamicInputError(f"--input-size {requested[0]} {requested[1]} differs from the static input "
                                    f"{fixed[0]}x{fixed[1]} of {path.name}; a static export cannot be resized",
                                    fix="drop --input-size, or re-export with `yolo export imgsz=H,W` or dynamic=True")
        return fixed, "static input"
    shape = [d.dim_param or d.dim_value for d in dims]
    if requested is not None:
        size, source = tuple(requested), "--input-size"
    elif imgsz is not None:
        size, source = imgsz, "export metadata imgsz"
        info(f"{path.name} has a dynamic input {shape}: using its imgsz metadata {size[0]}x{size[1]} "
             "(--input-size H W overrides)")
    else:
        raise DynamicInputError(
            f"{path.name} has a dynamic input {value_info.name!r} {shape} and no imgsz metadata; an Nx artifact "
            "needs a static H x W (rule B4)",
            fix="pass --input-size H W, the size the model was trained at (Ultralytics' default: 640 640)")
    _check_static_dims(size, fixed, source, path)
    return size, source


def _check_static_dims(size: tuple[int, int], fixed: tuple, source: str, path: Path) -> None:
    """An input dynamic in one of H, W only: the chosen size must keep the static one."""
    for axis, (want, have) in enumerate(zip(size, fixed)):
        if have is not None and want != have:
            raise DynamicInputError(f"{source} {size[0]}x{size[1]} differs from {path.name}'s static input "
                                    f"{'HW'[axis]} = {have}",
                                    fix=f"pass --input-size with {'HW'[axis]} = {have}")


def _check_stride(size: tuple[int, int], stride: str | None, path: Path) -> None:
    if stride and stride.isdigit() and any(s % int(stride) for s in size):
        step = int(stride)
        rounded = " ".join(str(max(step, round(s / step) * step)) for s in size)
        raise DynamicInputError(f"input size {size[0]}x{size[1]} is not a multiple of the model stride {step} "
                                f"({path.name} metadata)", fix=f"pass --input-size {rounded}")


def _network_opset(model, path: Path) -> int:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not MIN_TAIL_OPSET <= opset <= MAX_TAIL_OPSET:
        raise DetectorHeadError(f"{path.name} uses opset {opset}; the decode/NMS tail supports opset "
                                f"{MIN_TAIL_OPSET}..{MAX_TAIL_OPSET} (rule A1: Nx tests up to 17)",
                                fix="re-export with `yolo export format=onnx opset=17`")
    return opset


def fix_network(model, value_info, height: int, width: int):
    """Static `image-` (1, 3, H, W) input, IR <= 9, no stale shapes or metadata; ops untouched."""
    old = value_info.name
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = INPUT_NAME
        node.doc_string = ""
    value_info.name = INPUT_NAME
    dims = value_info.type.tensor_type.shape.dim
    for dim, size in zip(dims, (1, 3, height, width)):
        dim.Clear()
        dim.dim_value = size
    del model.graph.value_info[:]  # symbolic shapes from the dynamic export no longer hold
    del model.metadata_props[:]  # kept in the provenance instead
    model.ir_version = min(model.ir_version, MAX_IR_VERSION)
    model.doc_string = ""
    return model


def classify_head(shape: tuple[int, ...], path: Path) -> HeadLayout:
    """[1, 4+C, N] (N anchors > 4+C rows) is a raw YOLO head; [1, K, 6] an end2end top-K head."""
    if len(shape) == 2:
        raise DetectorHeadError(f"{path.name} ends in a {list(shape)} output: that is a classifier, not a detector",
                                fix="export it with `nxport export classification`, or pass a detection model")
    if len(shape) == 3 and shape[0] == 1:
        if shape[2] == 6 and shape[1] > 6:
            return HeadLayout.YOLO_END2END
        if shape[1] >= 5 and shape[2] > shape[1]:
            return HeadLayout.YOLO_RAW
    raise DetectorHeadError(
        f"{path.name} ends in an output of shape {list(shape)}: not a known detection head; allowed: "
        "[1, 4+C, N] (Ultralytics raw head: cx, cy, w, h + C class scores per anchor) or [1, K, 6] "
        "(end2end: x1, y1, x2, y2, score, class)",
        fix="export with `yolo export format=onnx` and without nms=True (nxport adds NMS itself)")


def _run_zeros(model, height: int, width: int) -> list[np.ndarray]:
    from nxport.core.sessions import cpu_session

    session = cpu_session(model.SerializeToString(), threads=1)
    return session.run(None, {INPUT_NAME: np.zeros((1, 3, height, width), np.float32)})


def _decode_family(model, path: Path, height: int, width: int):
    """-> (raw head array, layout, normalization or None (Ultralytics' /255), default names or None)."""
    from nxport.conventions.normalization import Normalization
    from nxport.exporters import detection_retinaface as retinaface

    outputs = _run_zeros(model, height, width)
    shapes = [tuple(o.shape) for o in outputs]
    if retinaface.matches(shapes):
        retinaface.check_priors(shapes, height, width, path.name)
        retinaface.to_nx_network(model)
        spec = retinaface.RETINAFACE
        norm = Normalization(tuple(reversed(spec.means_bgr)), (1.0, 1.0, 1.0))
        return _run_zeros(model, height, width)[0], HeadLayout.RETINAFACE, norm, list(spec.labels)
    if len(outputs) != 1:
        raise _too_many_outputs(path, shapes)
    return outputs[0], classify_head(shapes[0], path), None, None


def read_network(path: Path, input_size: tuple[int, int] | None) -> DetectorNetwork:
    model = load_onnx(path)
    meta = read_metadata(model)
    if meta.get("task") in CLASSIFIER_TASKS:
        raise DetectorHeadError(f"{path.name} metadata says task={meta['task']!r}: a classifier, not a detector",
                                fix="export it with `nxport export classification`, or pass a detection model")
    value_info = _single_image_input(model, path)
    opset = _network_opset(model, path)
    imgsz = parse_imgsz(meta.get("imgsz"))
    original_input = {"name": value_info.name,
                      "shape": [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]}
    (height, width), size_source = resolve_input_size(value_info, input_size, imgsz, path)
    _check_stride((height, width), meta.get("stride"), path)
    original_ir = model.ir_version
    model = fix_network(model, value_info, height, width)
    raw, layout, normalization, family_names = _decode_family(model, path, height, width)
    raw_name = model.graph.output[0].name
    out_dims = model.graph.output[0].type.tensor_type.shape.dim
    del out_dims[:]
    for size in raw.shape:
        out_dims.add().dim_value = int(size)
    names = parse_names(meta.get("names")) or family_names
    cut_node = next((n.name or n.op_type for n in model.graph.node if raw_name in n.output), raw_name)
    source = {"file": path.name, "format": "onnx", "metadata": {k: meta[k] for k in sorted(meta) if k != "names"},
              "original_input": original_input,
              "original_ir_version": original_ir, "opset": opset}
    num_classes = {HeadLayout.YOLO_RAW: raw.shape[1] - 4, HeadLayout.RETINAFACE: 1}.get(layout)
    return DetectorNetwork(model, raw_name, tuple(int(s) for s in raw.shape), cut_node, layout, height, width,
                           opset, num_classes, names, source, normalization, size_source)
