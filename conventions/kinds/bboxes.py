"""`bboxes-format:xyxysc;<id>:<name>;...`: detections, float32 (N, 6) rows [x1, y1, x2, y2, score, class_id]
(rule D3), with the optional `nms_sensitivity-` and `mask-` inputs (rule B9)."""

from __future__ import annotations

import numpy as np

from nxport.conventions.kinds.base import FLOAT32, ArtifactKind, Int8Metric, OptionalInput, ParityMetric, Problem, short
from nxport.conventions.names import format_pairs

FORMAT = ("format", "xyxysc")
DEFAULT_NMS_SENSITIVITY = 0.5
THRESHOLD_INPUT = OptionalInput(
    "nms_sensitivity-", lambda shape, dtype: np.full(shape, DEFAULT_NMS_SENSITIVITY, dtype=dtype),
    "float32 [1]: the score threshold the operator sets")
MASK_INPUT = OptionalInput(
    "mask-", lambda shape, dtype: np.ones(shape, dtype=dtype),
    "bool (H, W): boxes survive where the mask is true at their bottom-centre")


def format_name(labels: list[str]) -> str:
    """`bboxes-format:xyxysc;0:<name>;...` (rule D3): rows [x1, y1, x2, y2, score, class_id]."""
    return format_pairs("bboxes", [FORMAT, *((str(i), name) for i, name in enumerate(labels))])


def _declaration(t, parsed):
    label = short(t.name)
    if t.elem_type != FLOAT32:
        yield Problem(f"bboxes output {label!r} is {t.dtype_name}; expected float32")
    if t.rank != 2 or t.shape[-1] != 6:
        yield Problem(f"bboxes output {label!r} has shape {t.shape}; expected (N, 6) rows "
                      "[x1, y1, x2, y2, score, class_id]")
    if not parsed.pairs or parsed.pairs[0] != FORMAT:
        first = f"{parsed.pairs[0][0]}:{parsed.pairs[0][1]}" if parsed.pairs else "nothing"
        yield Problem(f"bboxes output {label!r} starts with {first!r}; expected 'format:xyxysc' first")


BBOXES = ArtifactKind(
    name="bboxes", rule_id="D3", grammar="bboxes-format:xyxysc;<id>:<name>;...", priority=1,
    carries_labels=True, leading_pairs=(FORMAT,), selects_postprocessing=True,
    optional_inputs=(THRESHOLD_INPUT, MASK_INPUT),
    parity_metric=ParityMetric.BOX_MATCH, int8_metric=Int8Metric.BOX_MATCH, route="/detect",
    report_fields=("labels", "threshold", "parity"),
    declaration_doc="bboxes-format:xyxysc;...: float32, rank 2, (N, 6).",
    check_declaration=_declaration,  # rows, thresholds and masks: conventions.checking.detection_runtime
)
