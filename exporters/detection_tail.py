"""The decode / NMS / threshold / mask tail, written with onnx.helper (opset 11..17, IR <= 9).

Raw YOLO head [1, 4+C, N] -> per anchor the single best class score (ReduceMax) and its class
(ArgMax) -> xyxy boxes shifted by class * (coordinate span + 1) so that one NonMaxSuppression call
over scores [1, 1, N] is class-aware. The official Nx tutorial runs NMS over all C score rows but
reports each anchor's max score, so at low thresholds an anchor whose second class passes comes out
twice; one score row per anchor cannot. NMS's score_threshold is strict `>` (onnxruntime), like
Ultralytics' `conf > conf_thres`. Since a single class row is used, max_output_boxes_per_class is
the artifact's total cap, and NMS returns boxes by descending score, so the cap keeps the best.
End2end heads [1, K, 6] are already decoded and suppressed: Greater(score, threshold) -> Gather.
DETR family [1, Q, 4+C+1]: softmax, best real class, score > threshold (transformers' post-processing).
RetinaFace [1, A, 6]: deltas decoded against constant priors (variances 0.1 / 0.2), one-class NMS.
Mask (Nx tutorials' rule): a row survives when mask[y2, (x1 + x2) / 2] is true, the point clipped
into the image and truncated to integer pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nxport.conventions.kinds import bboxes
from nxport.exporters.detection_config import HeadLayout

THRESHOLD_INPUT, MASK_INPUT = bboxes.THRESHOLD_INPUT.name, bboxes.MASK_INPUT.name
ROWS_DIM = "detections"  # symbolic N: no shape-mismatch warning when N varies (rule D3)
PREFIX = "nxport_tail/"


@dataclass(frozen=True)
class TailSpec:
    layout: HeadLayout
    raw_name: str
    raw_shape: tuple[int, ...]
    height: int
    width: int
    output_name: str
    iou: float
    max_detections: int
    threshold_input: bool
    mask_input: bool
    threshold: float  # used only without the threshold input
    opset: int
    ir_version: int


class _Graph:
    """Node and constant accumulator with one naming scheme (prefix + counter) for reproducible bytes."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], [], 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{PREFIX}{hint}_{self._count}"

    def const(self, hint: str, value, dtype) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, outputs: int = 1, **attrs):
        from onnx import helper

        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=names[0], **attrs))
        return names[0] if outputs == 1 else names

    def slice(self, x: str, start: int, end: int, axis: int) -> str:
        return self.op("Slice", [x, self.const("start", [start], np.int64), self.const("end", [end], np.int64),
                                 self.const("axis", [axis], np.int64)])

    def reshape(self, x: str, shape: list[int]) -> str:
        return self.op("Reshape", [x, self.const("shape", shape, np.int64)])


def _decode_raw(g: _Graph, spec: TailSpec, threshold: str) -> str:
    """[1, 4+C, N] -> NMS-kept rows [M, 6] in descending score order."""
    depth = spec.raw_shape[1]
    boxes_c = g.slice(spec.raw_name, 0, 4, 1)  # [1, 4, N] cx, cy, w, h
    scores = g.slice(spec.raw_name, 4, depth, 1)  # [1, C, N]
    best = g.op("ReduceMax", [scores], "best_score", axes=[1], keepdims=1)  # [1, 1, N]
    cls = g.op("Cast", [g.op("ArgMax", [scores], "best_class", axis=1, keepdims=1)], to=1)  # [1, 1, N] float
    centre, half = g.slice(boxes_c, 0, 2, 1), g.op("Mul", [g.slice(boxes_c, 2, 4, 1), g.const("half", 0.5, np.float32)])
    xyxy = g.op("Concat", [g.op("Sub", [centre, half]), g.op("Add", [centre, half])], "xyxy", axis=1)
    boxes = g.op("Transpose", [xyxy], "boxes", perm=[0, 2, 1])  # [1, N, 4]
    # Class-aware NMS in one call: shift each class into its own region. The shift is the span of
    # all coordinates + 1, so boxes of different classes never overlap, even with negative coordinates.
    span = g.op("Sub", [g.op("ReduceMax", [boxes], keepdims=0), g.op("ReduceMin", [boxes], keepdims=0)])
    step = g.op("Add", [span, g.const("one", 1.0, np.float32)])
    offset = g.op("Mul", [g.op("Transpose", [cls], perm=[0, 2, 1]), step])  # [1, N, 1]
    shifted = g.op("Add", [boxes, offset], "nms_boxes")
    selected = g.op("NonMaxSuppression", [shifted, best, g.const("max_det", [spec.max_detections], np.int64),
                                          g.const("iou", [spec.iou], np.float32), threshold],
                    "nms", center_point_box=0)  # [M, 3] (batch, class, box)
    keep = g.op("Gather", [selected, g.const("box_column", 2, np.int64)], "kept", axis=1)  # [M]
    table = g.op("Concat", [g.reshape(boxes, [-1, 4]), g.reshape(best, [-1, 1]), g.reshape(cls, [-1, 1])],
                 "table", axis=1)  # [N, 6]
    return g.op("Gather", [table, keep], "rows", axis=0)


def _filter_end2end(g: _Graph, spec: TailSpec, threshold: str) -> str:
    """[1, K, 6] already NMS-free top-K rows: keep score > threshold."""
    rows = g.reshape(spec.raw_name, [-1, 6])
    score = g.reshape(g.slice(rows, 4, 5, 1), [-1])
    passing = g.op("NonZero", [g.op("Greater", [score, threshold])])  # [1, M]
    return g.op("Gather", [rows, g.reshape(passing, [-1])], "rows", axis=0)


def _decode_detr(g: _Graph, spec: TailSpec, threshold: str) -> str:
    """[1, Q, 4+C+1] -> rows with score > threshold, in query order (transformers' post-processing)."""
    depth = spec.raw_shape[2]
    boxes_c, logits = g.slice(spec.raw_name, 0, 4, 2), g.slice(spec.raw_name, 4, depth, 2)
    probs = g.slice(g.op("Softmax", [logits], axis=2), 0, depth - 5, 2)  # drop the no-object class
    best = g.reshape(g.op("ReduceMax", [probs], "best_score", axes=[2], keepdims=0), [-1, 1])  # [Q, 1]
    cls = g.reshape(g.op("Cast", [g.op("ArgMax", [probs], "best_class", axis=2, keepdims=0)], to=1), [-1, 1])
    centre, size = g.slice(boxes_c, 0, 2, 2), g.slice(boxes_c, 2, 4, 2)
    half = g.op("Mul", [g.const("half", 0.5, np.float32), size])
    xyxy = g.op("Concat", [g.op("Sub", [centre, half]), g.op("Add", [centre, half])], "xyxy", axis=2)
    scale = g.const("pixels", [spec.width, spec.height, spec.width, spec.height], np.float32)
    table = g.op("Concat", [g.reshape(g.op("Mul", [xyxy, scale]), [-1, 4]), best, cls], "table", axis=1)
    passing = g.op("NonZero", [g.op("Greater", [g.reshape(best, [-1]), threshold])])
    return g.op("Gather", [table, g.reshape(passing, [-1])], "rows", axis=0)


def _decode_priors(g: _Graph, spec: TailSpec, threshold: str) -> str:
    """RetinaFace [1, A, 6] (deltas + background/face softmax) -> single-class NMS rows."""
    from nxport.exporters.detection_retinaface import RETINAFACE, priors

    anchors = priors(spec.height, spec.width)[None]  # [1, A, 4] normalised cx, cy, w, h
    centre_p, size_p = g.const("prior_centre", anchors[..., :2], np.float32), g.const("prior_size", anchors[..., 2:],
                                                                                        np.float32)
    deltas = g.slice(spec.raw_name, 0, 4, 2)
    shift = g.op("Mul", [g.op("Mul", [g.slice(deltas, 0, 2, 2), size_p]),
                         g.const("centre_variance", RETINAFACE.centre_variance, np.float32)])
    centre = g.op("Add", [centre_p, shift])
    scale = g.op("Exp", [g.op("Mul", [g.slice(deltas, 2, 4, 2), g.const("size_variance", RETINAFACE.size_variance,
                                                                         np.float32)])])
    size = g.op("Mul", [size_p, scale])
    top_left = g.op("Sub", [centre, g.op("Div", [size, g.const("two", 2.0, np.float32)])])
    xyxy = g.op("Concat", [top_left, g.op("Add", [top_left, size])], "xyxy", axis=2)
    pixels = g.const("pixels", [spec.width, spec.height, spec.width, spec.height], np.float32)
    boxes = g.op("Mul", [xyxy, pixels], "boxes")  # [1, A, 4]
    face = g.slice(spec.raw_name, 5, 6, 2)  # [1, A, 1]: P(face)
    scores = g.op("Transpose", [face], perm=[0, 2, 1])  # [1, 1, A]
    selected = g.op("NonMaxSuppression", [boxes, scores, g.const("max_det", [spec.max_detections], np.int64),
                                          g.const("iou", [spec.iou], np.float32), threshold], "nms")
    keep = g.op("Gather", [selected, g.const("box_column", 2, np.int64)], "kept", axis=1)
    zeros = g.op("Mul", [g.reshape(face, [-1, 1]), g.const("zero", 0.0, np.float32)])  # class 0 for every row
    table = g.op("Concat", [g.reshape(boxes, [-1, 4]), g.reshape(face, [-1, 1]), zeros], "table", axis=1)
    return g.op("Gather", [table, keep], "rows", axis=0)


def _apply_mask(g: _Graph, spec: TailSpec, rows: str) -> str:
    x1, x2, y2 = g.slice(rows, 0, 1, 1), g.slice(rows, 2, 3, 1), g.slice(rows, 3, 4, 1)
    zero = g.const("zero", 0.0, np.float32)
    x = g.op("Clip", [g.op("Mul", [g.op("Add", [x1, x2]), g.const("half", 0.5, np.float32)]), zero,
                      g.const("x_max", spec.width - 1, np.float32)])
    y = g.op("Clip", [y2, zero, g.const("y_max", spec.height - 1, np.float32)])
    xi, yi = g.op("Cast", [x], to=7), g.op("Cast", [y], to=7)  # truncation == floor after the clip to >= 0
    flat_index = g.reshape(g.op("Add", [g.op("Mul", [yi, g.const("width", spec.width, np.int64)]), xi]), [-1])
    inside = g.op("Gather", [g.reshape(MASK_INPUT, [-1]), flat_index], "mask_at_bottom_centre", axis=0)
    return g.op("Gather", [rows, g.reshape(g.op("NonZero", [inside]), [-1])], "masked_rows", axis=0)


def build_tail(spec: TailSpec):
    """The tail as its own ModelProto: inputs raw head (+ nms_sensitivity-, mask-), output bboxes-."""
    from onnx import TensorProto, helper

    g = _Graph()
    inputs = [helper.make_tensor_value_info(spec.raw_name, TensorProto.FLOAT, list(spec.raw_shape))]
    if spec.threshold_input:
        inputs.append(helper.make_tensor_value_info(THRESHOLD_INPUT, TensorProto.FLOAT, [1]))
        threshold = THRESHOLD_INPUT
    else:
        threshold = g.const("threshold", [spec.threshold], np.float32)
    if spec.mask_input:
        inputs.append(helper.make_tensor_value_info(MASK_INPUT, TensorProto.BOOL, [spec.height, spec.width]))
    decode = {HeadLayout.YOLO_RAW: _decode_raw, HeadLayout.YOLO_END2END: _filter_end2end,
              HeadLayout.DETR: _decode_detr, HeadLayout.RETINAFACE: _decode_priors}[spec.layout]
    rows = decode(g, spec, threshold)
    if spec.mask_input:
        rows = _apply_mask(g, spec, rows)
    g.nodes.append(helper.make_node("Identity", [rows], [spec.output_name], name=f"{PREFIX}output"))
    output = helper.make_tensor_value_info(spec.output_name, TensorProto.FLOAT, [ROWS_DIM, 6])
    graph = helper.make_graph(g.nodes, "nxport_detection_tail", inputs, [output], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", spec.opset)],
                              producer_name="nxport")
    model.ir_version = spec.ir_version
    return model


def compose(network, tail, raw_name: str):
    """network (image- -> raw head) + tail (raw head -> bboxes-) as one graph, the head wired through."""
    from onnx import compose as onnx_compose

    merged = onnx_compose.merge_models(network, tail, io_map=[(raw_name, raw_name)])
    merged.ir_version = min(network.ir_version, tail.ir_version)
    versions: dict[str, int] = {}
    for entry in merged.opset_import:  # merge_models lists the default domain once per input model
        domain = "" if entry.domain == "ai.onnx" else entry.domain
        versions[domain] = max(versions.get(domain, 0), entry.version)
    del merged.opset_import[:]
    for domain, version in versions.items():
        entry = merged.opset_import.add()
        entry.domain, entry.version = domain, version
    return merged
