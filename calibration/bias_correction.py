"""Empirical per-channel bias correction of a QDQ model, fitted with the numerics that will run.

Rounding weights and activations shifts each output channel's mean; on depthwise layers (few weights
per channel) the shift is large and accumulates through the network. For every Conv/Gemm with an
int32 bias, the mean of (FP32 output - INT8 output) per channel is added to the bias (Nagel et al.
2019, empirical variant; NNCF's bias correction). Two details matter on real photos:
- the INT8 output is read after its QuantizeLinear/DequantizeLinear, as onnxruntime's fused kernels
  produce it, and the mean is taken only where the FP32 value lies inside that quantized range: a
  Clip(0, 6) folded into the output range clips both sides alike, and outside it no bias helps;
- layers are corrected in topological order, a group per pass, each pass measuring the model with
  the earlier groups already corrected (upstream shifts are not corrected twice).
Images stream through each pass (memory: one image's activations of one group).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

COMPUTE_OPS = ("Conv", "Gemm", "ConvTranspose", "MatMul")


@dataclass
class Site:
    """One compute node: where its output is read in both models and where its bias lives."""

    node: str
    fp32_tensor: str  # the node's output in the FP32 model
    int8_tensor: str  # the same tensor as the INT8 model computes it (after Q -> DQ when quantized)
    bias_values: str  # int32 initializer
    bias_scale: str
    qrange: tuple[float, float] | None  # representable output range (None: float output)


def _const(inits: dict, name: str) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(inits[name])


def find_sites(qmodel, fp32_names: set[str]) -> list[Site]:
    """Compute nodes with an int32 bias from a DequantizeLinear, in graph (topological) order."""
    inits = {t.name: t for t in qmodel.graph.initializer}
    producer = {o: n for n in qmodel.graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in qmodel.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    sites = []
    for node in qmodel.graph.node:
        if node.op_type not in COMPUTE_OPS or len(node.input) < 3 or node.output[0] not in fp32_names:
            continue
        bias_dq = producer.get(node.input[2])
        if bias_dq is None or bias_dq.op_type != "DequantizeLinear" or bias_dq.input[0] not in inits \
                or inits[bias_dq.input[0]].data_type != 6:  # 6 = INT32
            continue
        out, qrange = node.output[0], None
        quant = [c for c in consumers.get(out, []) if c.op_type == "QuantizeLinear"]
        if quant:
            q = quant[0]
            deq = [c for c in consumers.get(q.output[0], []) if c.op_type == "DequantizeLinear"]
            if not deq or q.input[1] not in inits:
                continue
            scale, zero = float(_const(inits, q.input[1])), _const(inits, q.input[2])
            info = np.iinfo(zero.dtype)
            qrange = (scale * (info.min - float(zero)), scale * (info.max - float(zero)))
            out = deq[0].output[0]
        sites.append(Site(node.name, node.output[0], out, bias_dq.input[0], bias_dq.input[1], qrange))
    return sites


def model_with_outputs(model, names: list[str]) -> bytes:
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    # Only the tensors asked for: nodes after them are dead, which keeps each pass short.
    del copy.graph.output[:]
    copy.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in names)
    _prune(copy.graph)
    return copy.SerializeToString()


def _prune(graph) -> None:
    needed, keep = {o.name for o in graph.output}, []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(keep))


def _channel_stats(ref: np.ndarray, got: np.ndarray, qrange) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel sum of (ref - got) and element count, over the elements inside the output range."""
    ref = ref.reshape(ref.shape[0], ref.shape[1], -1).astype(np.float64)
    got = got.reshape(ref.shape).astype(np.float64)
    diff = ref - got
    if qrange is None:
        return diff.sum(axis=(0, 2)), np.full(ref.shape[1], ref.shape[0] * ref.shape[2], dtype=np.float64)
    inside = (ref > qrange[0]) & (ref < qrange[1])
    return (diff * inside).sum(axis=(0, 2)), inside.sum(axis=(0, 2)).astype(np.float64)


@dataclass(frozen=True)
class BiasCorrectionConfig:
    groups: int = 0  # passes; 0 = one per layer (strictly sequential); fewer passes correct shifts twice
    min_count: int = 16  # elements a channel needs inside the range before its bias moves


def correct_biases(qmodel, fp32_model, tensors: Callable[[], Iterable[np.ndarray]], input_name: str,
                   session_factory: Callable, config: BiasCorrectionConfig = BiasCorrectionConfig()) -> dict:
    """Adjust qmodel's int32 biases in place. `tensors()` yields the calibration inputs (called once per
    pass); `session_factory(model_bytes)` builds the session whose numerics the INT8 model will run with."""
    sites = find_sites(qmodel, {o for n in fp32_model.graph.node for o in n.output})
    if not sites:
        return {"layers": 0, "passes": 0}
    groups = np.array_split(np.arange(len(sites)), min(config.groups or len(sites), len(sites)))
    shifts = {}
    for group in groups:
        chosen = [sites[i] for i in group]
        fp32 = session_factory(model_with_outputs(fp32_model, [s.fp32_tensor for s in chosen]))
        int8 = session_factory(model_with_outputs(qmodel, [s.int8_tensor for s in chosen]))
        sums = [None] * len(chosen)
        for x in tensors():
            feed = {input_name: x}
            ref = fp32.run([s.fp32_tensor for s in chosen], feed)
            got = int8.run([s.int8_tensor for s in chosen], feed)
            for k, site in enumerate(chosen):
                total, count = _channel_stats(ref[k], got[k], site.qrange)
                sums[k] = (total, count) if sums[k] is None else (sums[k][0] + total, sums[k][1] + count)
        for site, (total, count) in zip(chosen, sums):
            shifts[site.node] = _apply(qmodel, site, total, count, config.min_count)
    return {"layers": len(shifts), "passes": len(groups),
            "mean_abs_shift_lsb": round(float(np.mean([v for v in shifts.values()])), 4)}


def _apply(qmodel, site: Site, total: np.ndarray, count: np.ndarray, min_count: int) -> float:
    """Add the mean error (in bias LSBs, rounded) to the int32 bias. Returns the mean |shift| in LSBs."""
    from onnx import numpy_helper

    inits = {t.name: t for t in qmodel.graph.initializer}
    values = numpy_helper.to_array(inits[site.bias_values]).astype(np.int64)
    scale = numpy_helper.to_array(inits[site.bias_scale]).astype(np.float64)
    mean = np.where(count >= min_count, total / np.maximum(count, 1), 0.0)
    shift = np.rint(mean / scale).astype(np.int64)
    info = np.iinfo(np.int32)
    new = np.clip(values + shift, info.min, info.max).astype(np.int32)
    inits[site.bias_values].CopyFrom(numpy_helper.from_array(new, site.bias_values))
    return float(np.mean(np.abs(shift)))
