"""POST /detect: a `bboxes-` artifact over HTTP.

    POST /detect {"inputs": [b64 | data: URL, ...], "threshold"?: 0..1, "model"?: str}
                 -> [[{"box": [x1, y1, x2, y2], "label", "score", "class_id"}, ...], ...]

Boxes come back in the pixels of the image as sent: the artifact's rows are in input pixels and the
device stretches the frame to H x W (no letterbox), so x scales by width / W and y by height / H.
Row counts vary per image, so detectors run one image per session call (no batching); `threshold`
feeds `nms_sensitivity-` (an artifact with a baked threshold refuses it: 422), `mask-` is all true.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from nxport.conventions.kinds import bboxes
from nxport.serving.errors import ValidationError
from nxport.serving.schemas import _Request
from nxport.serving.settings import BatchingMode

THRESHOLD_INPUT, MASK_INPUT = bboxes.THRESHOLD_INPUT.name, bboxes.MASK_INPUT.name
DEFAULT_THRESHOLD = 0.25  # Ultralytics' predict default, also the exporter's baked default


class DetectRequest(_Request):
    threshold: float | None = Field(default=None, ge=0.0, le=1.0,
                                    description=f"score threshold (score > value); default {DEFAULT_THRESHOLD}")


@dataclass
class DetectionRunner:
    """One session, one image per call; the Batcher-facing `run` exists so the server's bookkeeping
    (health, /info) treats every model alike, /detect calls `detect` directly."""

    session: object
    input_name: str
    output_name: str
    height: int
    width: int
    threshold_input: bool
    mask_input: bool
    mode: BatchingMode = BatchingMode.PER_IMAGE
    max_batch: int = 1
    reason: str = "detections vary in count per image"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def detect(self, tensor: np.ndarray, threshold: float | None) -> np.ndarray:
        feeds = {self.input_name: tensor}
        if self.threshold_input:
            feeds[THRESHOLD_INPUT] = np.array([DEFAULT_THRESHOLD if threshold is None else threshold], np.float32)
        elif threshold is not None:
            raise ValidationError("this detector has its score threshold baked in (no nms_sensitivity- input); "
                                  "omit \"threshold\" or re-export without --no-threshold-input")
        if self.mask_input:
            feeds[MASK_INPUT] = np.ones((self.height, self.width), bool)
        with self._lock:  # one inference at a time per model: the cores are shared with decoding
            return self.session.run([self.output_name], feeds)[0]

    def run(self, batch: np.ndarray) -> np.ndarray:
        rows = np.empty(len(batch), dtype=object)
        for i in range(len(batch)):
            rows[i] = self.detect(batch[i:i + 1], None)
        return rows

    def describe(self) -> dict:
        return {"mode": self.mode.value, "max_batch": 1, "reason": self.reason}


def detection_runner(model, spec, threads: int) -> DetectionRunner:
    from nxport.serving.batching import make_session

    names = {i.name for i in model.graph.input}
    runner = DetectionRunner(make_session(model.SerializeToString(), threads), spec.input_name, spec.output_name,
                             spec.layout.height, spec.layout.width, THRESHOLD_INPUT in names, MASK_INPUT in names)
    runner.detect(np.zeros(spec.input_shape, np.float32), None)  # proves the artifact runs, as classifiers do
    return runner


def detections(rows: np.ndarray, labels: tuple[str, ...], size: tuple[int, int], runner: DetectionRunner) -> list:
    """Artifact rows (input pixels) -> JSON boxes in the pixels of the image as sent."""
    width, height = size
    scale = np.array([width / runner.width, height / runner.height] * 2, np.float64)
    result = []
    for row in rows:
        class_id = int(row[5])
        box = (row[:4].astype(np.float64) * scale).round(2).tolist()
        result.append({"box": box, "label": labels[class_id] if 0 <= class_id < len(labels) else str(class_id),
                       "score": round(float(row[4]), 6), "class_id": class_id})
    return result


def _decode(value: str, index: int, spec, max_pixels: int):
    from nxport.conventions.nx_input import nx_preprocess
    from nxport.serving.decode import decode_image

    image = decode_image(value, index, max_pixels)
    return nx_preprocess(image, spec.layout, spec.normalization), image.size


async def detect(runtime, request, payload: DetectRequest):
    import asyncio
    import time

    model = runtime.registry.for_detect(payload.model)  # the caller checked the input count
    limit, start = runtime.settings.max_image_pixels, time.perf_counter()
    jobs = [runtime.run_in_pool(_decode, value, i, model.spec, limit) for i, value in enumerate(payload.inputs)]
    decoded = await asyncio.gather(*jobs, return_exceptions=True)
    failure = next((r for r in decoded if isinstance(r, BaseException)), None)
    if failure is not None:
        raise failure
    middle = time.perf_counter()
    runner = model.runner
    rows = [await runtime.run_in_pool(runner.detect, tensor, payload.threshold) for tensor, _ in decoded]
    request.state.timings.update(decode=(middle - start) * 1000, inference=(time.perf_counter() - middle) * 1000)
    request.state.log.update(model=model.name, inputs=len(payload.inputs), kind="image")
    return [detections(r, model.spec.labels, size, runner) for r, (_, size) in zip(rows, decoded)]
