"""INT8 for detector artifacts: the network is quantized (QDQ), the decode / NMS tail stays float.

    from nxport.calibration.detection import calibrate_detector
    result = calibrate_detector("build/yolov8n_face.onnx", "photos/", eval_images="other/", output_dir="build/")

The cut is the raw head the exporter recorded (`metadata_props["nxport"].head.raw_output`): the
network up to it is calibrated on photos fed the Nx way, then recomposed with the original float
tail, so NMS, thresholds and the mask behave exactly as in FP32. The report compares INT8 with FP32
box for box: matched-box recall and precision (same class, IoU >= 0.5) and the mean IoU of the
matches, instead of a classifier's top-1 agreement. Fixed recipe: MinMax, per-channel int8 weights,
uint8 activations (what ORT's QDQ kernels run fastest; NPU compilers re-calibrate anyway).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nxport.calibration.errors import NotAnNxArtifactError, TooFewImagesError
from nxport.calibration.reader import MIN_CALIBRATION_IMAGES
from nxport.conventions.contract import INT8_KEY, set_metadata
from nxport.core.atomic import atomic_path, prepare_output_dir, refuse_existing

MATCH_IOU = 0.5  # the COCO AP50 criterion: a box "is the same detection" at IoU >= 0.5
EVAL_THRESHOLDS = (0.05, 0.25)  # many low-score boxes (sensitive to INT8 noise) and Ultralytics' default


@dataclass(frozen=True)
class DetectorArtifact:
    """The one place this module reads what a detector artifact promises."""

    path: Path
    model: object
    raw_output: str
    output_name: str
    shape: tuple[int, ...]
    normalization: object
    optional_inputs: tuple[str, ...]


def read_detector(path: str | Path) -> DetectorArtifact:
    """A detector artifact through its contract: refused with the checker's rule ids exactly when the
    checker refuses it; then the raw head recorded by `nxport export detection` marks where to cut."""
    import onnx

    from nxport.calibration.errors import ModelNotFoundError
    from nxport.conventions.contract import OutputKind, read_contract

    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(path)
    contract = read_contract(path).require("calibrated", kinds=(OutputKind.BBOXES,))
    raw = (contract.provenance.get("head") or {}).get("raw_output")
    if not raw:
        raise NotAnNxArtifactError(path, "no recorded raw head (metadata_props['nxport'].head.raw_output); "
                                   "export it with `nxport export detection`")
    return DetectorArtifact(path, onnx.load(str(path)), raw, contract.output.name, contract.input_shape,
                            contract.normalization, tuple(t.name for t in contract.optional_inputs))


def is_detector_artifact(path: str | Path) -> bool:
    """Whether calibration takes the detector path: the output kind its contract declares."""
    from nxport.conventions.contract import OutputKind, read_contract

    try:
        return read_contract(path).kind is OutputKind.BBOXES
    except Exception:  # unreadable: the classifier/embedding path reports why, with its rule id
        return False


def split_at_head(artifact: DetectorArtifact):
    """(network: image- -> raw head, tail: raw head + optional inputs -> bboxes-) from the single file."""
    from onnx.utils import Extractor

    extractor = Extractor(artifact.model)
    network = extractor.extract_model(["image-"], [artifact.raw_output])
    tail = extractor.extract_model([artifact.raw_output, *artifact.optional_inputs], [artifact.output_name])
    for part in (network, tail):
        del part.graph.value_info[:]  # intermediate shapes: recomputed by onnxruntime, duplicates break merging
        part.ir_version = artifact.model.ir_version
        del part.opset_import[:]
        part.opset_import.extend(artifact.model.opset_import)
    return network, tail


def decode_nodes(network) -> list[str]:
    """Nodes after the last convolutions: the box decode (DFL softmax, anchor grid arithmetic, the
    Concat of pixel coordinates with 0..1 scores). One uint8 scale over [0, 640] px would round every
    score to 0, so these stay float, as in the Nx Hailo flow (compiled up to the last Convs)."""
    consumers: dict[str, list] = {}
    for node in network.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    reaches_conv: dict[int, bool] = {}
    for node in reversed(network.graph.node):  # ONNX graphs are topologically sorted
        below = [c for out in node.output for c in consumers.get(out, [])]
        reaches_conv[id(node)] = any(c.op_type == "Conv" or reaches_conv.get(id(c), False) for c in below)
    return [n.name for n in network.graph.node if n.op_type != "Conv" and not reaches_conv[id(n)] and n.name]


class _PhotoReader:
    """onnxruntime CalibrationDataReader over photos preprocessed the Nx way."""

    def __init__(self, files: list[Path], shape, norm):
        self._files, self._shape, self._norm = iter(files), shape, norm

    def get_next(self):
        from nxport.conventions.nx_input import InputLayout, nx_preprocess
        from nxport.core.images import load_image

        path = next(self._files, None)
        if path is None:
            return None
        return {"image-": nx_preprocess(load_image(path), InputLayout.from_shape(self._shape), self._norm)}


def quantize_network(network, files: list[Path], artifact: DetectorArtifact, workdir: Path):
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    fp32, int8 = workdir / "network.onnx", workdir / "network.int8.onnx"
    onnx.save(network, str(fp32))
    quantize_static(str(fp32), str(int8), _PhotoReader(files, artifact.shape, artifact.normalization),
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                    nodes_to_exclude=decode_nodes(network))
    quantized = onnx.load(str(int8))
    quantized.ir_version = min(quantized.ir_version, artifact.model.ir_version)  # rule A2
    del quantized.graph.value_info[:]
    return quantized


def matched_boxes(fp32: np.ndarray, int8: np.ndarray) -> list[float]:
    """IoUs of greedy one-to-one matches (FP32 rows by score; same class, IoU >= MATCH_IOU)."""
    from nxport.exporters.detection_reference import box_iou

    if not len(fp32) or not len(int8):
        return []
    overlap, used, ious = box_iou(fp32[:, :4], int8[:, :4]), set(), []
    for i in np.argsort(-fp32[:, 4], kind="stable"):
        candidates = [j for j in range(len(int8)) if j not in used and int8[j, 5] == fp32[i, 5]
                      and overlap[i, j] >= MATCH_IOU]
        if candidates:
            j = max(candidates, key=lambda k: overlap[i, k])
            used.add(j)
            ious.append(float(overlap[i, j]))
    return ious


def compare_detections(fp32_bytes: bytes, int8_bytes: bytes, files: list[Path], artifact: DetectorArtifact,
                       threshold: float) -> dict:
    from nxport.conventions.nx_input import InputLayout, nx_preprocess
    from nxport.core.images import load_image
    from nxport.core.sessions import cpu_session

    sessions = [cpu_session(fp32_bytes, threads=1), cpu_session(int8_bytes, threads=1)]
    height, width = artifact.shape[2:]
    totals, ious = np.zeros(2, int), []
    for path in files:
        feeds = {"image-": nx_preprocess(load_image(path), InputLayout.from_shape(artifact.shape),
                                         artifact.normalization)}
        if "nms_sensitivity-" in artifact.optional_inputs:
            feeds["nms_sensitivity-"] = np.array([threshold], np.float32)
        if "mask-" in artifact.optional_inputs:
            feeds["mask-"] = np.ones((height, width), bool)
        fp32, int8 = (s.run(None, feeds)[0] for s in sessions)
        totals += (len(fp32), len(int8))
        ious += matched_boxes(fp32, int8)
    matched = len(ious)
    return {"images": len(files), "threshold": threshold, "match": f"same class, IoU >= {MATCH_IOU}",
            "fp32_boxes": int(totals[0]), "int8_boxes": int(totals[1]), "matched": matched,
            "recall": round(matched / totals[0], 4) if totals[0] else None,
            "precision": round(matched / totals[1], 4) if totals[1] else None,
            "mean_iou": round(float(np.mean(ious)), 4) if ious else None}


def image_files(folder, max_images: int | None, seed: int) -> list[Path]:
    """A seeded sample of the photos under `folder` (recursive), in a stable order."""
    import random

    from nxport.calibration.errors import EmptyImageFolderError
    from nxport.core.errors import ConfigError
    from nxport.core.images import IMAGE_SUFFIXES, iter_image_files

    files = iter_image_files(Path(folder), recursive=True)
    if not files:
        raise EmptyImageFolderError(Path(folder), IMAGE_SUFFIXES)
    if max_images is not None and max_images < 1:
        raise ConfigError(f"max images {max_images} < 1", fix="pass --max-images 1 or more")
    if max_images is not None and len(files) > max_images:
        files = sorted(random.Random(seed).sample(files, max_images))
    return files


def files_sha256(files: list[Path]) -> str:
    """The calibration set's id: names and bytes of the files used."""
    import hashlib

    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@dataclass
class DetectorCalibration:
    onnx_path: Path
    report_path: Path
    report: dict

    def summary(self) -> str:
        lines = [f"int8       {self.onnx_path}  ({self.report['size_bytes']['int8'] / 1e6:.1f} MB vs FP32 "
                 f"{self.report['size_bytes']['fp32'] / 1e6:.1f} MB; network QDQ, decode/NMS tail float)"]
        for ev in self.report["fp32_vs_int8"]:
            lines.append(f"boxes      {ev['images']} photos at score > {ev['threshold']}: recall {ev['recall']}, "
                         f"precision {ev['precision']}, mean IoU {ev['mean_iou']} ({ev['matched']} of "
                         f"{ev['fp32_boxes']} FP32 boxes matched)")
        lines += [f"checks     {'CONFORMANT' if self.report['conformance']['conformant'] else 'NOT CONFORMANT'}",
                  f"report     {self.report_path}"]
        return "\n".join(lines)


def calibrate_detector(model_path, images, *, eval_images=None, output_dir, name: str | None = None,
                       overwrite: bool = False, max_images: int | None = None, seed: int = 0) -> DetectorCalibration:
    from nxport.exporters.detection_tail import compose

    artifact = read_detector(model_path)
    directory = prepare_output_dir(output_dir)
    base = name or artifact.path.stem
    onnx_path, report_path = directory / f"{base}.int8.onnx", directory / f"{base}.int8.report.json"
    refuse_existing([onnx_path, report_path], overwrite)
    calib = image_files(images, max_images, seed)
    if len(calib) < MIN_CALIBRATION_IMAGES:
        raise TooFewImagesError(Path(images), len(calib), MIN_CALIBRATION_IMAGES, "Calibration",
                                "Ranges from fewer photos describe those photos, not the camera's scene.",
                                "add photos like the ones the camera will see (vendor toolchains ask for 100-500)")
    evaluation = image_files(eval_images, None, seed) if eval_images is not None else calib
    network, tail = split_at_head(artifact)
    with tempfile.TemporaryDirectory(prefix="nxport-calib-det-") as tmp:
        quantized = quantize_network(network, calib, artifact, Path(tmp))
    model = compose(quantized, tail, artifact.raw_output)
    model.graph.doc_string = artifact.model.graph.doc_string
    del model.metadata_props[:]
    model.metadata_props.extend(artifact.model.metadata_props)
    settings = {"format": "QDQ", "scope": "network up to its last convolutions; box decode and NMS tail float",
                "float_nodes": len(decode_nodes(network)),
                "method": "minmax", "weights": "int8 per-channel", "activations": "uint8",
                "calibration_images": len(calib), "calibration_set_sha256": files_sha256(calib)}
    set_metadata(model, INT8_KEY, settings)
    data, fp32_bytes = model.SerializeToString(), artifact.model.SerializeToString()
    report = {"artifact": onnx_path.name, "source": artifact.path.name, "int8": settings,
              "fp32_vs_int8": [compare_detections(fp32_bytes, data, evaluation, artifact, t)
                               for t in EVAL_THRESHOLDS],
              "size_bytes": {"fp32": len(fp32_bytes), "int8": len(data)}, "conformance": _conformance(data)}
    with atomic_path(onnx_path) as onnx_tmp, atomic_path(report_path) as report_tmp:
        onnx_tmp.write_bytes(data)
        report_tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return DetectorCalibration(onnx_path, report_path, report)


def _conformance(data: bytes) -> dict:
    from nxport.exporters.artifact import check_conformance

    return check_conformance(data).to_dict()  # raises ConformanceError on any MUST finding


def run_cli(args) -> int:
    """`nxport calibrate DETECTOR.onnx`: the classifier/embedding recipe options do not apply here."""
    from nxport.core.errors import ConfigError

    recipe_options = ("method", "per_channel", "symmetric_activations", "activation_type", "weight_type",
                      "percentile", "histogram_bins", "keep_float", "target", "weight_storage", "reduce_range",
                      "bias_correction", "weight_rounding")
    given = [f"--{o.replace('_', '-')}" for o in recipe_options if getattr(args, o, None) is not None]
    if given or getattr(args, "recipe", "auto") != "auto" or getattr(args, "augment", 0):
        raise ConfigError(f"{', '.join(given) or '--recipe/--augment'} do not apply to a detector: its network is "
                          "quantized with a fixed recipe (MinMax, int8 per-channel weights, uint8 activations) and "
                          "judged box for box", fix="drop those options for detector artifacts")
    result = calibrate_detector(args.model, args.images, eval_images=args.eval_images, output_dir=args.output_dir,
                                name=args.name, overwrite=args.overwrite, max_images=args.max_images, seed=args.seed)
    print(result.summary())
    return 0
