"""How INT8 is judged against FP32, one metric per output kind: top-1, cosine, box match.

A metric is what a kind hands the one calibration engine (`AgreementMetric`); `metric_for(kind)`
picks it from the artifact contract's output kind, so the artifact-kind objects can later carry it
as their INT8 agreement metric. The engine never asks which kind it calibrates.
- `Top1Agreement` (scores-): top-1 agreement, by FP32 margin band, with top-5 overlap and KL.
- `CosineAgreement` (embedding-): mean and minimum cosine of the vectors.
- `BoxMatch` (bboxes-): INT8 boxes matched to FP32 boxes one to one (same class, IoU >= 0.5):
  recall, precision and mean IoU of the matches, at a low and at Ultralytics' default threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from nxport.conventions.contract import OutputKind
from nxport.conventions.kinds import Int8Metric, all_kinds, bboxes

MATCH_IOU = 0.5  # the COCO AP50 criterion: a box "is the same detection" at IoU >= 0.5
BOX_THRESHOLDS = (0.05, 0.25)  # many low-score boxes (sensitive to INT8 noise) and Ultralytics' default


class AgreementMetric(Protocol):
    name: str  # the headline number's key in the report
    searchable: bool  # the automatic recipe search can score candidates with it

    def accumulator(self):
        """A fresh running tally with add(fp32_output, int8_output), .metric and to_dict()."""


@dataclass(frozen=True)
class Top1Agreement:
    name: str = "top1_agreement"
    searchable: bool = True

    def accumulator(self):
        from nxport.calibration.evaluate import Agreement

        return Agreement(embedding=False)


@dataclass(frozen=True)
class CosineAgreement:
    name: str = "cosine_mean"
    searchable: bool = True

    def accumulator(self):
        from nxport.calibration.evaluate import Agreement

        return Agreement(embedding=True)


@dataclass(frozen=True)
class BoxMatch:
    """Box-for-box agreement of a detector's `bboxes-` rows (x1, y1, x2, y2, score, class)."""

    name: str = "box_recall"
    searchable: bool = False  # a detector is quantized with one fixed recipe (recipes.DETECTOR)
    thresholds: tuple[float, ...] = BOX_THRESHOLDS

    def accumulator(self, threshold: float = BOX_THRESHOLDS[-1]) -> "BoxTally":
        return BoxTally(threshold)

    def feeds(self, contract, tensor: np.ndarray, threshold: float) -> dict:
        """The image plus the optional inputs an Nx detector reads (rule D5): threshold, full mask."""
        feeds = {contract.input.name: tensor}
        optional = {t.name for t in contract.optional_inputs}
        if bboxes.THRESHOLD_INPUT.name in optional:
            feeds[bboxes.THRESHOLD_INPUT.name] = np.array([threshold], np.float32)
        if bboxes.MASK_INPUT.name in optional:
            feeds[bboxes.MASK_INPUT.name] = bboxes.MASK_INPUT.default_feed(tuple(contract.input_shape[2:]), np.bool_)
        return feeds

    def compare(self, fp32_bytes: bytes, int8_bytes: bytes, tensors: list, contract) -> list[dict]:
        """One tally per threshold over the same images, onnxruntime CPU, one thread."""
        from nxport.core.sessions import cpu_session

        fp32, int8 = cpu_session(fp32_bytes, threads=1), cpu_session(int8_bytes, threads=1)
        rows = []
        for threshold in self.thresholds:
            tally = self.accumulator(threshold)
            for tensor in tensors:
                feeds = self.feeds(contract, tensor, threshold)
                tally.add(fp32.run(None, feeds)[0], int8.run(None, feeds)[0])
            rows.append(tally.to_dict())
        return rows


@dataclass
class BoxTally:
    threshold: float
    images: int = 0
    fp32_boxes: int = 0
    int8_boxes: int = 0
    ious: tuple[float, ...] = ()

    def add(self, fp32: np.ndarray, int8: np.ndarray) -> None:
        self.images += 1
        self.fp32_boxes += len(fp32)
        self.int8_boxes += len(int8)
        self.ious += tuple(matched_boxes(fp32, int8))

    @property
    def metric(self) -> float:
        return len(self.ious) / self.fp32_boxes if self.fp32_boxes else float("nan")

    def to_dict(self) -> dict:
        matched = len(self.ious)
        return {"images": self.images, "threshold": self.threshold, "match": f"same class, IoU >= {MATCH_IOU}",
                "fp32_boxes": self.fp32_boxes, "int8_boxes": self.int8_boxes, "matched": matched,
                "recall": round(matched / self.fp32_boxes, 4) if self.fp32_boxes else None,
                "precision": round(matched / self.int8_boxes, 4) if self.int8_boxes else None,
                "mean_iou": round(float(np.mean(self.ious)), 4) if self.ious else None}


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


# One implementation per INT8 metric a kind can declare; which kind uses which is the kind's own data
# (conventions/kinds), so a new kind with an existing metric calibrates without touching this file.
IMPLEMENTATIONS: dict[Int8Metric, AgreementMetric] = {
    Int8Metric.TOP1: Top1Agreement(),
    Int8Metric.COSINE: CosineAgreement(),
    Int8Metric.BOX_MATCH: BoxMatch(),
}
# Keyed by the output kind the artifact contract declares; a kind not here cannot be calibrated.
METRICS: dict[OutputKind, AgreementMetric] = {
    OutputKind(kind.name): IMPLEMENTATIONS[kind.int8_metric] for kind in all_kinds() if kind.int8_metric is not None
}
CALIBRATABLE_KINDS = tuple(METRICS)


def metric_for(kind: OutputKind) -> AgreementMetric:
    return METRICS[kind]
