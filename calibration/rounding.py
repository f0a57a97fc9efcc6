"""GPTQ weight rounding on the INT8 model's own inputs (Frantar et al. 2022), before bias correction.

Rounding each weight to its nearest grid point ignores how the rounding errors of one output
channel's weights add up on real inputs. For every Conv/Gemm in topological order, this module
collects the layer's input as the INT8 model computes it (earlier layers already rounded, inputs
already quantized), forms the Hessian H = X X^T of the layer's least-squares output error, and rounds
the FP32 weights one input column at a time, pushing each column's rounding error onto the columns
not yet rounded through the inverse Hessian. A row of ones in X lets the float bias take the part of
the error that is constant. The grid stays the recipe's: symmetric, one scale per output channel
(max |w| / q), q read from the nearest-rounded weights (127 for 8-bit, 63 with --reduce-range). Depthwise convolutions are solved per channel (one small Hessian each);
other convolutions and Gemm share one Hessian per layer. Images stream one at a time: memory is one
image's patches and the Hessians. Measured on lite0 (benchmarks/INT8_RECIPES.md): with bias
correction after it, mean KL on held-out tuning folds 0.0074 -> 0.0052.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from nxport.calibration.bias_correction import model_with_outputs



@dataclass(frozen=True)
class RoundingConfig:
    damping: float = 0.01  # added to the Hessian's diagonal, as a fraction of its mean (GPTQ's default)


@dataclass
class _Layer:
    """One Conv/Gemm of the QDQ model: its weight, bias and input dequantizers and their values."""

    node: object
    weight_dq: object
    bias_dq: object
    input_scale: float
    weights: np.ndarray  # FP32
    bias: np.ndarray
    zero_point: np.ndarray
    scale_shape: tuple
    groups: int
    grid_max: int  # largest |k| of the recipe's grid (127 for 8-bit weights)

    @property
    def is_gemm(self) -> bool:
        return self.node.op_type == "Gemm"


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _array(inits: dict, name: str) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(inits[name])


def _layers(qmodel, fp32_model) -> list[_Layer]:
    """Per-channel Conv/Gemm nodes of qmodel, starting from the FP32 model's weights (same node names)."""
    inits = {t.name: t for t in qmodel.graph.initializer}
    fp32_inits = {t.name: t for t in fp32_model.graph.initializer}
    names = Counter(n.name for n in fp32_model.graph.node)
    # Matched by node name (the quantizer keeps them); unnamed or repeated names keep nearest rounding.
    fp32_nodes = {n.name: n for n in fp32_model.graph.node if n.name and names[n.name] == 1}
    producer = {o: n for n in qmodel.graph.node for o in n.output}
    layers = []
    for node in qmodel.graph.node:
        source = fp32_nodes.get(node.name)
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 3 or source is None \
                or source.op_type != node.op_type or source.input[1] not in fp32_inits:
            continue
        attrs = _attrs(node)
        if node.op_type == "Gemm" and (attrs.get("transB", 0) != 1 or attrs.get("transA", 0)):
            continue
        if node.op_type == "Conv" and not _plain_2d(attrs):
            continue  # nearest rounding stays: the patch extraction below covers plain 2-D convolutions
        dqs = [producer.get(name) for name in node.input[:3]]
        if any(dq is None or dq.op_type != "DequantizeLinear" for dq in dqs):
            continue
        x_dq, w_dq, b_dq = dqs
        if w_dq.input[0] not in inits or b_dq.input[0] not in inits or len(w_dq.input) < 3 \
                or x_dq.input[1] not in inits:
            continue
        k = _array(inits, w_dq.input[0]).astype(np.float64)
        scale, zero = _array(inits, w_dq.input[1]).astype(np.float64), _array(inits, w_dq.input[2])
        if scale.ndim != 1 or scale.size != k.shape[0]:
            continue  # per-tensor weights: not this module's grid
        weights = _array(fp32_inits, source.input[1]).astype(np.float64)
        if weights.shape != k.shape:
            continue
        # The bias as the INT8 model holds it: the input-grid alignment may have shifted it.
        bias = _array(inits, b_dq.input[0]).astype(np.float64) * _array(inits, b_dq.input[1]).astype(np.float64)
        grid_max = max(1, int(np.abs(k - zero.astype(np.float64).reshape((-1,) + (1,) * (k.ndim - 1))).max()))
        layers.append(_Layer(node, w_dq, b_dq, float(_array(inits, x_dq.input[1])), weights, bias, zero,
                             scale.shape, 1 if node.op_type == "Gemm" else int(attrs.get("group", 1)), grid_max))
    return layers


def _plain_2d(attrs: dict) -> bool:
    """A 2-D convolution with explicit pads and no dilation (1-D/3-D, dilated and auto_pad ones are not)."""
    kernel = attrs.get("kernel_shape")
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    return (kernel is not None and len(kernel) == 2 and all(d == 1 for d in attrs.get("dilations", [1, 1]))
            and auto_pad in (b"NOTSET", "NOTSET") and len(attrs.get("pads", [0, 0, 0, 0])) == 4)


def _patches(x: np.ndarray, node, kernel: tuple[int, int]) -> np.ndarray:
    """One image (C, H, W) -> (C, kh*kw, positions), matching the (Cin, kh, kw) weight layout."""
    attrs = _attrs(node)
    kh, kw = kernel
    sh, sw = attrs.get("strides", [1, 1])
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    x = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    view = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
    channels, out_h, out_w = view.shape[:3]
    return view.reshape(channels, out_h * out_w, kh * kw).transpose(0, 2, 1)


def _hessians(layer: _Layer, inputs: Iterable[np.ndarray]) -> np.ndarray:
    """Per group: H = X X^T over every output position, with a row of ones for the bias."""
    groups, hessian = layer.groups, None
    for x in inputs:
        if layer.is_gemm:
            cols = x.reshape(1, -1, 1)
        else:
            p = _patches(x[0], layer.node, layer.weights.shape[2:])
            cols = p.reshape(groups, -1, p.shape[-1])
        cols = np.concatenate([cols, np.ones((groups, 1, cols.shape[-1]))], axis=1).astype(np.float64)
        h = cols @ cols.transpose(0, 2, 1)  # batched BLAS; einsum here is ~10x slower
        hessian = h if hessian is None else hessian + h
    return hessian


def _round(layer: _Layer, hessian: np.ndarray, damping: float):
    """-> (integer grid values k, per-channel scales, float bias)."""
    groups = layer.groups
    rows = layer.weights.shape[0] // groups
    w = np.concatenate([layer.weights.reshape(groups, rows, -1), layer.bias.reshape(groups, rows, 1)], axis=2)
    dim = w.shape[-1]
    ridge = damping * np.mean(np.diagonal(hessian, axis1=1, axis2=2), axis=1) + 1e-9
    damped = hessian + ridge[:, None, None] * np.eye(dim)
    top = layer.grid_max
    scale = np.maximum(np.abs(w[:, :, :-1]).max(axis=2) / top, 1e-12)  # (groups, rows)
    # Upper Cholesky factor U of the inverse Hessian (H^-1 = U^T U): row i spreads column i's error onward.
    upper = np.linalg.cholesky(np.linalg.inv(damped)).transpose(0, 2, 1)
    grid = np.empty_like(w[:, :, :-1])
    for i in range(dim - 1):  # the last column (bias) is never rounded: it takes the remainder
        column = w[:, :, i]
        grid[:, :, i] = np.clip(np.rint(column / scale), -top, top)
        error = (column - grid[:, :, i] * scale) / upper[:, i, i][:, None]
        w[:, :, i + 1:] -= error[:, :, None] * upper[:, i, i + 1:][:, None, :]
    return grid.reshape(layer.weights.shape), scale.reshape(-1), w[:, :, -1].reshape(-1)


def _write(qmodel, layer: _Layer, grid: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> None:
    from onnx import numpy_helper

    inits = {t.name: t for t in qmodel.graph.initializer}
    w_values, w_scale = layer.weight_dq.input[0], layer.weight_dq.input[1]
    stored = grid + layer.zero_point.astype(np.float64).reshape((-1,) + (1,) * (grid.ndim - 1))
    inits[w_values].CopyFrom(numpy_helper.from_array(stored.astype(layer.zero_point.dtype), w_values))
    inits[w_scale].CopyFrom(numpy_helper.from_array(scale.astype(np.float32).reshape(layer.scale_shape), w_scale))
    b_values, b_scale = layer.bias_dq.input[0], layer.bias_dq.input[1]
    bias_scale = (np.float32(layer.input_scale) * scale.astype(np.float32)).astype(np.float32)
    info = np.iinfo(np.int32)
    inits[b_scale].CopyFrom(numpy_helper.from_array(bias_scale.reshape(_array(inits, b_scale).shape), b_scale))
    inits[b_values].CopyFrom(numpy_helper.from_array(
        np.clip(np.rint(bias / bias_scale), info.min, info.max).astype(np.int32), b_values))


def round_weights(qmodel, fp32_model, tensors: Callable[[], Iterable[np.ndarray]], input_name: str,
                  session_factory: Callable, config: RoundingConfig = RoundingConfig()) -> dict:
    """Re-round qmodel's per-channel weights in place, layer by layer, from the FP32 weights.
    `tensors()` yields the calibration inputs (called once per layer); `session_factory(model_bytes)`
    builds the session whose numerics the INT8 model runs with."""
    layers = _layers(qmodel, fp32_model)
    for layer in layers:
        int8 = session_factory(model_with_outputs(qmodel, [layer.node.input[0]]))
        hessian = _hessians(layer, (int8.run(None, {input_name: x})[0] for x in tensors()))
        _write(qmodel, layer, *_round(layer, hessian, config.damping))
    return {"layers": len(layers), "damping": config.damping}
