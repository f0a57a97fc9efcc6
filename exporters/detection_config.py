"""Typed configuration of a detector export, with the defaults of the decode/NMS tail and why.

Precedence for IoU and the baked threshold: explicit option > the head family's own default.
- YOLO (Ultralytics): IoU 0.7, threshold 0.25, max detections 300: what Ultralytics `predict` /
  `val` use, i.e. the settings the model's published accuracy was measured with. (The official Nx
  tutorial's 0.35 / 20 per class suppresses overlapping people in crowds and caps each class at 20.)
- RetinaFace: IoU 0.4, threshold 0.9: the defaults its reference post-processing ships with.
- The threshold is baked only when `nms_sensitivity-` is dropped; otherwise the operator sets it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from nxport.exporters.config import DEFAULT_OPSET
from nxport.core.errors import ConfigError

DEFAULT_IOU = 0.7
DEFAULT_MAX_DETECTIONS = 300
DEFAULT_THRESHOLD = 0.25
MAX_TAIL_OPSET = 17  # ReduceMax moves its axes to an input at 18; the tail is written for 11..17
MIN_TAIL_OPSET = 11  # NonMaxSuppression 11, Clip with tensor bounds


class HeadLayout(str, enum.Enum):
    """The raw output a detector network ends with (what the tail decodes)."""

    YOLO_RAW = "yolo-raw"  # Ultralytics v5u/v8/v9/v11 [1, 4+C, N]: cx, cy, w, h, C sigmoid scores; needs NMS
    YOLO_END2END = "yolo-end2end"  # YOLOv10 / YOLO26 [1, K, 6]: x1, y1, x2, y2, score, class; top-K, no NMS
    DETR = "detr-softmax"  # YOLOS / DETR [1, Q, 4+C+1]: normalised cx, cy, w, h + logits incl. no-object
    RETINAFACE = "retinaface-priors"  # [1, A, 4 + 2]: box deltas vs anchor priors + (background, face) softmax


@dataclass(frozen=True)
class TailDefaults:
    iou: float
    threshold: float


FAMILY_DEFAULTS = {
    HeadLayout.YOLO_RAW: TailDefaults(DEFAULT_IOU, DEFAULT_THRESHOLD),
    HeadLayout.YOLO_END2END: TailDefaults(DEFAULT_IOU, DEFAULT_THRESHOLD),
    HeadLayout.DETR: TailDefaults(DEFAULT_IOU, 0.5),  # transformers' post_process_object_detection default
    HeadLayout.RETINAFACE: TailDefaults(0.4, 0.9),
}


@dataclass
class DetectionConfig:
    weights: Path | None = None  # a raw Ultralytics ONNX export, or an HF save_pretrained directory with `model`
    model: str | None = None  # Hugging Face id / name of a DETR-family detector (YOLOS, DETR); None: ONNX weights
    random_init: bool = False  # DETR family only: structure tests from `hf_config`
    hf_config: dict | None = None  # random init: {"model_type": "yolos", **config kwargs}
    opset: int = DEFAULT_OPSET  # DETR family (torch export); an ONNX export keeps its own opset
    labels: Path | list[str] | None = None  # overrides the export's `names` metadata
    replace_char: str | None = None
    input_size: tuple[int, int] | None = None  # (H, W): fixes a dynamic input; None: imgsz metadata / image_size
    iou: float | None = None  # None: the head family's default (FAMILY_DEFAULTS)
    max_detections: int = DEFAULT_MAX_DETECTIONS
    threshold_input: bool = True  # `nms_sensitivity-` input; False bakes `threshold`
    mask_input: bool = True  # `mask-` input (bottom-centre rule)
    threshold: float | None = None  # baked without the threshold input; None: the family's default
    split: bool = False  # also write <name>.network.onnx + <name>.post.onnx
    output_dir: Path = Path("build")
    name: str | None = None
    overwrite: bool = False
    parity_images: Path | None = None
    targets: tuple[str, ...] = ()  # NPU profiles (conventions/targets): preflight verdicts in the report

    def __post_init__(self):
        self.targets = tuple(self.targets)
        if self.weights is None and not (self.model and self.random_init):
            raise ConfigError("no detector given", fix="pass --weights yolov8n.onnx (a raw Ultralytics export), or "
                              "--model NAME --weights HF_DIR / --random-init for a DETR-family detector")
        if self.random_init and not self.model:
            raise ConfigError("--random-init needs --model (a DETR-family name)", fix="pass --model hustvl/yolos-tiny")
        self.weights = Path(self.weights) if self.weights is not None else None
        if self.model and self.opset > MAX_TAIL_OPSET:
            raise ConfigError(f"opset {self.opset} is above the tail's {MAX_TAIL_OPSET}", fix="pass --opset 17")
        self.output_dir = Path(self.output_dir)
        if self.input_size is not None:
            self.input_size = (int(self.input_size[0]), int(self.input_size[1]))
        if self.iou is not None:
            validate_unit("iou", self.iou, "--iou 0.7")
        if self.threshold is not None:
            validate_unit("threshold", self.threshold, "--threshold 0.25")
        if not isinstance(self.max_detections, int) or self.max_detections <= 0:
            raise ConfigError(f"max_detections {self.max_detections!r} must be a positive integer",
                              fix=f"pass --max-detections {DEFAULT_MAX_DETECTIONS}")

    @property
    def artifact_name(self) -> str:
        if self.name:
            return self.name
        return self.model.replace("/", "_").replace(".", "_") if self.model else self.weights.stem.replace(".", "_")


def validate_unit(name: str, value: float, example: str) -> None:
    """IoU and score thresholds are fractions: outside [0, 1] NMS keeps everything or nothing."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name} {value!r} is outside the allowed range [0, 1]", fix=f"pass e.g. {example}")
