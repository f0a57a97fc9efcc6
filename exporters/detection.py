"""Detector export: a detector network + an onnx.helper decode/NMS tail ->
`image-` (+ `nms_sensitivity-`, `mask-`) in, `bboxes-format:xyxysc;<id>:<name>;...` (N, 6) out.

Sources: a raw Ultralytics ONNX export (YOLO raw or end2end head), a RetinaFace ONNX (anchor
priors), or a DETR-family model from transformers (YOLOS, DETR) exported here.

    from nxport.exporters.detection import export_detection
    from nxport.exporters.detection_config import DetectionConfig
    export_detection(DetectionConfig(weights="yolov8n.onnx", input_size=(640, 640), split=True))

The network is the user's graph untouched (input renamed and fixed), so the raw head is the one
Ultralytics computes; parity is the artifact's rows vs an independent numpy + torchvision decode of
the original file's raw head on real photos.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from nxport.conventions.kinds.bboxes import BBOXES, format_name as format_bboxes_name
from nxport.conventions.normalization import Normalization
from nxport.exporters.artifact import ExportResult
from nxport.exporters.detection_config import FAMILY_DEFAULTS, DetectionConfig, HeadLayout
from nxport.exporters.detection_head import DetectorNetwork, read_network
from nxport.exporters.detection_parity import detection_parity, prove_split
from nxport.exporters.detection_tail import MASK_INPUT, THRESHOLD_INPUT, TailSpec, build_tail, compose
from nxport.exporters.labels import read_labels_file, validate_labels
from nxport.exporters.onnx_export import make_reproducible
from nxport.exporters.pipeline import Built, ExportContext, ExportTask, Graph, bytes_file, run_export
from nxport.exporters.registry import register_task
from nxport.exporters.report import ArtifactPaths
from nxport.core.errors import ConfigError, LabelError

# Ultralytics feeds RGB / 255 (no mean, no std): on Nx's 0..255 scale that is means 0, vars 255 (rule C1).
NORMALIZATION = Normalization.from_unit_scale((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


NMS_KIND = {HeadLayout.YOLO_RAW: "class-aware, single best score per anchor",
            HeadLayout.YOLO_END2END: "none (end2end head, already suppressed)",
            HeadLayout.DETR: "none (set prediction: softmax, best real class, score > threshold)",
            HeadLayout.RETINAFACE: "single class (face) NMS on prior-decoded boxes"}


@dataclass(frozen=True)
class SplitPaths:
    network: Path
    post: Path


def split_paths(paths: ArtifactPaths) -> SplitPaths:
    return SplitPaths(paths.directory / f"{paths.name}.network.onnx", paths.directory / f"{paths.name}.post.onnx")


@dataclass
class DetectorSource:
    net: DetectorNetwork
    normalization: Normalization
    parity: Callable  # (spec, artifact bytes) -> DetectionParity; raises ParityError


def load_source(config: DetectionConfig) -> DetectorSource:
    """A raw Ultralytics ONNX file, or a DETR-family transformers model exported here."""
    from nxport.exporters.parity import parity_photos

    photos = parity_photos(config.parity_images)
    if config.model is None:
        net = read_network(config.weights, config.input_size)
        norm = net.normalization or NORMALIZATION
        return DetectorSource(net, norm, lambda spec, data: detection_parity(config, net, spec, data, norm, photos))
    from nxport.exporters.detection_detr import detr_network
    from nxport.exporters.detection_parity import detr_parity

    net, module, (mean, std) = detr_network(config)
    norm = Normalization.from_unit_scale(mean, std)
    return DetectorSource(net, norm, lambda spec, data: detr_parity(module, spec, data, norm, photos))


def resolve_detection_labels(config: DetectionConfig, net: DetectorNetwork) -> tuple[list[str], str]:
    """--labels > the export's `names` metadata; the count must equal the head's classes (rule E3)."""
    if isinstance(config.labels, (list, tuple)):
        names, source = list(config.labels), "explicit list"
    elif config.labels is not None:
        names, source = read_labels_file(config.labels), f"file {Path(config.labels).name}"
    elif net.names is not None:
        names, source = net.names, "export metadata `names`"
    else:
        raise LabelError(f"{config.artifact_name} has no `names` metadata and no labels were given",
                         fix="pass --labels FILE (one class name per line, or a JSON list)")
    count = net.num_classes if net.num_classes is not None else len(net.names or names)
    return validate_labels(names, count, source, config.replace_char), source


def tail_spec(config: DetectionConfig, net: DetectorNetwork, output_name: str) -> TailSpec:
    defaults = FAMILY_DEFAULTS[net.layout]
    iou = config.iou if config.iou is not None else defaults.iou
    threshold = config.threshold if config.threshold is not None else defaults.threshold
    return TailSpec(net.layout, net.raw_name, net.raw_shape, net.height, net.width, output_name, iou,
                    config.max_detections, config.threshold_input, config.mask_input, threshold,
                    net.opset, net.model.ir_version)


def detection_provenance(config: DetectionConfig, net: DetectorNetwork, spec: TailSpec, labels_source: str,
                         count: int, norm: Normalization) -> dict:
    import onnx

    from nxport.exporters.weights import sha256_of
    from nxport.core import __version__

    nms = net.layout in (HeadLayout.YOLO_RAW, HeadLayout.RETINAFACE)  # IoU and the cap only exist with NMS
    threshold = ({"input": THRESHOLD_INPUT, "semantics": "score > value"} if spec.threshold_input
                 else {"baked": spec.threshold, "semantics": "score > value"})
    return {
        "task": "detection", "tool": f"nxport {__version__}", "source": net.source,
        "weights": net.source.get("weights") or {"source": "local", "file": config.weights.name,
                                                 "sha256": sha256_of(config.weights)},
        "preprocessing": {"input_size": [net.height, net.width], "input_size_source": net.size_source,
                          "means_0_255": list(norm.means),
                          "vars_0_255": list(norm.vars), "channels": "RGB",
                          "device_resize": "stretch to input size (Nx); Ultralytics / HF processors letterbox "
                                           "or keep the aspect ratio instead"},
        "head": {"layout": net.layout.value, "raw_output": net.raw_name, "raw_shape": list(net.raw_shape),
                 "classes": count},
        "tail": {"nms": NMS_KIND[net.layout], "iou": spec.iou if nms else None,
                 "max_detections": spec.max_detections if nms else None,
                 "threshold": threshold, "mask": MASK_INPUT if spec.mask_input else None,
                 "mask_rule": "mask[y2, (x1 + x2) / 2], clipped into the image", "coordinates": "input pixels"},
        "labels": {"count": count, "source": labels_source},
        "opset": net.opset, "versions": {"onnx": onnx.__version__},
    }


@dataclass
class LoadedDetector:
    source: DetectorSource
    labels: list[str]
    labels_source: str


class DetectionTask(ExportTask):
    """One `bboxes-` artifact; with --split also its network and post-processing halves."""

    def outputs(self, directory: Path) -> dict[str, Path]:
        config = self.config
        paths = ArtifactPaths(directory, config.artifact_name)
        if config.weights is not None and paths.onnx.resolve() == config.weights.resolve():
            raise ConfigError(f"the artifact {paths.onnx} would replace the weights it is exported from",
                              fix="pass another --output-dir or --name")
        outputs = {"onnx": paths.onnx}
        if config.split:
            halves = split_paths(paths)
            outputs.update(network=halves.network, post=halves.post)
        return outputs

    def load(self, ctx: ExportContext) -> LoadedDetector:
        # A DETR-family model is exported here at the opset the targets allow; an ONNX file keeps its own.
        source = load_source(replace(self.config, opset=ctx.opset) if self.config.model else self.config)
        labels, labels_source = resolve_detection_labels(self.config, source.net)
        return LoadedDetector(source, labels, labels_source)

    def build(self, ctx: ExportContext, loaded: LoadedDetector) -> Built:
        return build_detector(self.config, ctx, loaded)


@register_task("detection", DetectionConfig, f"YOLO ONNX / RetinaFace / YOLOS+DETR + decode/NMS tail -> {BBOXES.grammar}")
def export_detection(config: DetectionConfig) -> ExportResult:
    return run_export(DetectionTask(config)).single()


def build_detector(config: DetectionConfig, ctx: ExportContext, loaded: LoadedDetector) -> Built:
    source, labels, timer, paths = loaded.source, loaded.labels, ctx.timer, ctx.paths
    net, norm = source.net, source.normalization
    spec = tail_spec(config, net, format_bboxes_name(labels))
    with timer("tail"):
        tail = make_reproducible(build_tail(spec))
        network = make_reproducible(net.model)
        model = make_reproducible(compose(network, tail, net.raw_name))
    provenance = detection_provenance(config, net, spec, loaded.labels_source, len(labels), norm)
    with timer("parity"):
        provenance["parity"] = source.parity(spec, model.SerializeToString()).to_dict()
    halves = SplitPaths(paths["network"], paths["post"]) if config.split else None
    side_files = []
    if halves:
        with timer("split"):
            provenance["split"] = prove_split(network, tail, model, spec, norm, halves)
            provenance["split"]["cut_node"] = net.cut_node
        side_files = [bytes_file(halves.network, network.SerializeToString()),
                      bytes_file(halves.post, tail.SerializeToString())]
    next_steps = [f"python -m nxport.conventions {paths['onnx']}   # re-check any time, e.g. in CI",
                  f"nxport serve {paths['onnx']}   # POST /detect with a photo",
                  "upload the .onnx to Nx AI Manager (Add model -> ONNX); names, means/vars travel in the file"]
    if halves:
        next_steps.insert(1, f"NPU flows: compile {halves.network.name} (up to {net.raw_name}), run "
                             f"{halves.post.name} on the host")
    return Built([Graph("onnx", model, provenance, norm)], next_steps, side_files,
                 parts={"network": network} if halves else {})

