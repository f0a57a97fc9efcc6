"""Which layers hurt most: per-tensor error from onnxruntime's QDQ debugging tools.

For each node, `drop_db` is how much the signal-to-quantization-noise ratio (SQNR, FP32 model vs
QDQ model, onnxruntime.quantization.qdq_loss_debug) falls between the node's inputs and its output:
the error this node adds. Images are processed one at a time (memory stays bounded).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class LayerError:
    node: str
    op_type: str
    output_sqnr_db: float
    drop_db: float

    def to_dict(self) -> dict:
        return {"node": self.node, "op_type": self.op_type, "output_sqnr_db": round(self.output_sqnr_db, 2),
                "drop_db": round(self.drop_db, 2)}


class _One:
    def __init__(self, feed):
        self._feed = [feed]

    def get_next(self):
        return self._feed.pop() if self._feed else None

    def __iter__(self):
        while (item := self.get_next()) is not None:
            yield item


def tensor_sqnr(fp32_path: Path, qdq_path: Path, feeds: list[dict], workdir: Path) -> dict[str, float]:
    """Mean SQNR (dB) per activation tensor of the QDQ model against the FP32 model."""
    from onnxruntime.quantization import qdq_loss_debug as qdq

    fp32_aug, qdq_aug = workdir / "sens_fp32.onnx", workdir / "sens_qdq.onnx"
    qdq.modify_model_output_intermediate_tensors(str(fp32_path), str(fp32_aug))
    qdq.modify_model_output_intermediate_tensors(str(qdq_path), str(qdq_aug))
    per_tensor = defaultdict(list)
    for feed in feeds:
        float_acts = qdq.collect_activations(str(fp32_aug), _One(feed))
        qdq_acts = qdq.collect_activations(str(qdq_aug), _One(feed))
        for name, pair in qdq.create_activation_matching(qdq_acts, float_acts).items():
            value = _sqnr_db(pair.get("float"), pair.get("post_qdq"))
            if value is not None:
                per_tensor[name].append(value)
    return {name: float(np.mean(values)) for name, values in per_tensor.items()}


def _sqnr_db(reference, noisy) -> float | None:
    """qdq_loss_debug's SQNR, skipping pairs whose shapes differ (a name reused by the QDQ rewrite)."""
    if not reference or not noisy:
        return None
    x, y = np.asarray(reference[0], dtype=np.float64).ravel(), np.asarray(noisy[0], dtype=np.float64).ravel()
    if x.shape != y.shape:
        return None
    noise = float(np.linalg.norm(x - y))
    return 120.0 if noise == 0 else float(20 * np.log10(max(float(np.linalg.norm(x)), 1e-12) / noise))


def rank_layers(model, sqnr: dict[str, float]) -> list[LayerError]:
    """Nodes sorted by the SQNR they lose (worst first)."""
    ranked = []
    for node in model.graph.node:
        outs = [sqnr[t] for t in node.output if t in sqnr]
        ins = [sqnr[t] for t in node.input if t in sqnr]
        if outs and ins:
            ranked.append(LayerError(node.name, node.op_type, min(outs), min(ins) - min(outs)))
    return sorted(ranked, key=lambda e: -e.drop_db)


def compute_sqnr(model, sqnr: dict[str, float], compute_ops) -> list[dict]:
    """SQNR (dB) of every compute node's output, read after its activation (Clip/Relu) when the
    quantizer folded the activation into the output range. Graph order."""
    consumers: dict[str, list] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    rows = []
    for node in model.graph.node:
        if node.op_type not in compute_ops:
            continue
        names = [node.output[0]] + [c.output[0] for c in consumers.get(node.output[0], [])
                                    if c.op_type in ("Clip", "Relu")]
        value = next((sqnr[n] for n in names if n in sqnr), None)
        rows.append({"node": node.name, "op_type": node.op_type,
                     "output_sqnr_db": None if value is None else round(value, 2)})
    return rows


def layer_errors(fp32_model, fp32_path: Path, qdq_path: Path, feeds: list[dict], workdir: Path) -> list[LayerError]:
    return rank_layers(fp32_model, tensor_sqnr(fp32_path, qdq_path, feeds, workdir))
