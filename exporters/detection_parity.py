"""Detector parity: the artifact's rows vs an independent decode of the original file's raw head on
real photos, and the proof that network.onnx + post.onnx compose to the single artifact exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from nxport.conventions.normalization import Normalization
from nxport.exporters.detection_config import HeadLayout
from nxport.exporters.detection_head import INPUT_NAME
from nxport.exporters.detection_reference import match_rows, reference_rows
from nxport.exporters.detection_tail import MASK_INPUT, THRESHOLD_INPUT, TailSpec
from nxport.core.errors import ParityError

PARITY_THRESHOLDS = (0.05, 0.25)  # low: where the tutorial tail emits duplicates; 0.25: Ultralytics' default
MIN_IOU, SCORE_ATOL = 0.99, 1e-3


def nx_detection_feeds(rgb, spec: TailSpec, norm: Normalization, threshold: float,
                       mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """What Nx feeds a detector artifact: the photo, the operator's threshold, the region mask."""
    from nxport.conventions.nx_input import InputLayout, nx_preprocess

    feeds = {INPUT_NAME: nx_preprocess(rgb, InputLayout.from_shape((1, 3, spec.height, spec.width)), norm)}
    if spec.threshold_input:
        feeds[THRESHOLD_INPUT] = np.array([threshold], np.float32)
    if spec.mask_input:
        feeds[MASK_INPUT] = np.ones((spec.height, spec.width), bool) if mask is None else mask
    return feeds


@dataclass
class DetectionParity:
    images: int
    thresholds: list[float]
    reference: str
    rows: dict = field(default_factory=dict)  # "photo@threshold" -> [artifact rows, reference rows]
    min_iou: float = 1.0
    max_score_diff: float = 0.0
    all_classes_match: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def _original_raw(session, feeds: dict, layout: HeadLayout) -> np.ndarray:
    """The raw head of the user's file as given (its own input name, dynamic or not)."""
    image = feeds[INPUT_NAME]
    if layout is HeadLayout.RETINAFACE:  # the original wants BGR; its loc + conf are the raw head
        loc, conf = session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(image[:, ::-1])})[:2]
        return np.concatenate([loc, conf], axis=2)
    return session.run(None, {session.get_inputs()[0].name: image})[0]


def detection_parity(config, net, spec: TailSpec, model_bytes: bytes, norm: Normalization,
                     photos=None) -> DetectionParity:
    from nxport.exporters.parity import parity_photos
    from nxport.core.sessions import cpu_session

    photos = photos if photos is not None else parity_photos(config.parity_images)
    thresholds = list(PARITY_THRESHOLDS) if spec.threshold_input else [spec.threshold]
    session, original = cpu_session(model_bytes, threads=1), cpu_session(str(config.weights), threads=1)
    result = DetectionParity(len(photos), thresholds, "numpy decode + torchvision.ops.batched_nms")
    failures = []
    for photo in photos:
        raw = _original_raw(original, nx_detection_feeds(photo.rgb, spec, norm, 0.0), spec.layout)
        for threshold in thresholds:
            got = session.run(None, nx_detection_feeds(photo.rgb, spec, norm, threshold))[0]
            expected = reference_rows(raw, spec.layout, threshold, spec.iou, spec.max_detections,
                                      size=(spec.height, spec.width))
            _record(result, f"{photo.name}@{threshold}", match_rows(got, expected), failures)
    _raise_on(failures)
    return result


def prove_split(network, tail, model, spec: TailSpec, norm: Normalization, paths) -> dict:
    """Run network.onnx then post.onnx and the single artifact on real photos: rows must be identical."""
    from nxport.core.images import sample_photos
    from nxport.core.sessions import cpu_session

    single = cpu_session(model.SerializeToString(), threads=1)
    first = cpu_session(network.SerializeToString(), threads=1)
    second = cpu_session(tail.SerializeToString(), threads=1)
    checked = 0
    for photo in sample_photos():
        for threshold in PARITY_THRESHOLDS if spec.threshold_input else (spec.threshold,):
            feeds = nx_detection_feeds(photo.rgb, spec, norm, threshold)
            raw = first.run(None, {INPUT_NAME: feeds[INPUT_NAME]})[0]
            post_feeds = {spec.raw_name: raw, **{k: v for k, v in feeds.items() if k != INPUT_NAME}}
            composed, whole = second.run(None, post_feeds)[0], single.run(None, feeds)[0]
            if composed.shape != whole.shape or not np.array_equal(composed, whole):
                raise ParityError(f"{paths.network.name} + {paths.post.name} give {composed.shape} rows on "
                                  f"{photo.name}@{threshold}, the single artifact {whole.shape}; they must be "
                                  "identical",
                                  fix="report this as an nxport bug; use the single artifact meanwhile")
            checked += 1
    return {"network": paths.network.name, "post": paths.post.name, "cut": spec.raw_name,
            "cut_shape": list(spec.raw_shape), "post_inputs": [spec.raw_name] + [
                n for n, on in ((THRESHOLD_INPUT, spec.threshold_input), (MASK_INPUT, spec.mask_input)) if on],
            "composition": "bit-identical rows", "runs_compared": checked}


def detr_parity(module, spec: TailSpec, model_bytes: bytes, norm: Normalization, photos) -> DetectionParity:
    """Artifact rows vs transformers' post_process_object_detection on the PyTorch model's raw head."""
    import torch

    from nxport.exporters.detection_reference import detr_reference_rows
    from nxport.core.sessions import cpu_session

    thresholds = list(PARITY_THRESHOLDS) if spec.threshold_input else [spec.threshold]
    session = cpu_session(model_bytes, threads=1)
    result = DetectionParity(len(photos), thresholds, "PyTorch + transformers post_process_object_detection")
    failures = []
    for photo in photos:
        with torch.no_grad():
            raw = module(torch.from_numpy(nx_detection_feeds(photo.rgb, spec, norm, 0.0)[INPUT_NAME])).numpy()
        for threshold in thresholds:
            got = session.run(None, nx_detection_feeds(photo.rgb, spec, norm, threshold))[0]
            match = match_rows(got, detr_reference_rows(raw, threshold, spec.height, spec.width))
            _record(result, f"{photo.name}@{threshold}", match, failures)
    _raise_on(failures)
    return result


def _record(result: DetectionParity, key: str, match, failures: list[str]) -> None:
    result.rows[key] = [match.rows_got, match.rows_expected]
    result.min_iou = min(result.min_iou, round(match.min_iou, 6))
    result.max_score_diff = max(result.max_score_diff, match.max_score_diff)
    result.all_classes_match &= match.same_class
    if not match.ok(MIN_IOU, SCORE_ATOL):
        failures.append(f"{key}: {match.to_dict()}")


def _raise_on(failures: list[str]) -> None:
    if failures:
        raise ParityError(f"artifact rows differ from the reference decode on {len(failures)} photo/threshold "
                          f"pairs: {'; '.join(failures[:3])}",
                          fix="report the model to nxport; pass --parity-images to reproduce on your photos")
