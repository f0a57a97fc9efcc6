"""Quantize the image input on the grid the Nx runtime feeds, so that every pixel value is exact.

The device feeds x = (p - m) / v for integer pixels p in 0..255. A calibrated uint8 range of
[-1, 1] (m = v = 127.5) gives scale 2/255 and zero point 128, so x / s + zp = p + 0.5: every pixel
lands on a rounding tie and half of them move by one level. That alone flips FP32's top-1 on
near-tied photos. With scale 1/v, zero point round(m) and a constant a = (m - zp) / v added before
the QuantizeLinear, q = p exactly; the Conv that reads the input gets its bias shifted by -a * sum(W)
so that, away from the zero-padded border, it computes what it computed before.
Applies when the normalization is one (m, v) for all channels; otherwise the input is left as is.
"""

from __future__ import annotations

import numpy as np


def _inits(model) -> dict:
    return {t.name: t for t in model.graph.initializer}


def _set(model, name: str, value: np.ndarray) -> None:
    from onnx import numpy_helper

    _inits(model)[name].CopyFrom(numpy_helper.from_array(value, name))


def _array(model, name: str) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(_inits(model)[name])


def align_input_grid(qmodel, input_name: str, means, variances) -> dict:
    """Rewrite qmodel in place. Returns what was done (for the report)."""
    means, variances = np.asarray(means, dtype=np.float64), np.asarray(variances, dtype=np.float64)
    if means.size == 0 or np.ptp(means) > 0 or np.ptp(variances) > 0:
        return {"aligned": False, "reason": "per-channel normalization: no single uint8 grid holds every pixel"}
    quant = [n for n in qmodel.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == input_name]
    if len(quant) != 1 or _array(qmodel, quant[0].input[2]).dtype != np.uint8:
        return {"aligned": False, "reason": "the input is not quantized to uint8 by one QuantizeLinear"}
    q, m, v = quant[0], float(means[0]), float(variances[0])
    zero = int(np.floor(m + 0.5))
    offset = (m - zero) / v
    old_scale, new_scale = float(_array(qmodel, q.input[1])), 1.0 / v
    dq_out = [n.output[0] for n in qmodel.graph.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0]]
    consumers = [n for n in qmodel.graph.node if any(i in dq_out for i in n.input)]
    if not consumers or any(c.op_type != "Conv" or len(c.input) < 3 for c in consumers):
        return {"aligned": False, "reason": "the input feeds something other than biased Conv nodes"}
    for conv in consumers:
        _shift_conv_bias(qmodel, conv, -offset, old_scale, new_scale)
    _set(qmodel, q.input[1], np.array(new_scale, dtype=np.float32))
    _set(qmodel, q.input[2], np.array(zero, dtype=np.uint8))
    if offset:
        _add_offset(qmodel, q, input_name, offset)
    return {"aligned": True, "scale": new_scale, "zero_point": zero, "offset": offset,
            "replaced_scale": old_scale}


def _add_offset(qmodel, q, input_name: str, offset: float) -> None:
    import onnx

    const, shifted = f"{input_name}_grid_offset", f"{input_name}_on_grid"
    qmodel.graph.initializer.append(onnx.numpy_helper.from_array(np.array(offset, dtype=np.float32), const))
    q.input[0] = shifted
    index = list(qmodel.graph.node).index(q)
    qmodel.graph.node.insert(index, onnx.helper.make_node("Add", [input_name, const], [shifted],
                                                          name=f"{input_name}_align_to_grid"))


def _shift_conv_bias(qmodel, conv, delta: float, old_in_scale: float, new_in_scale: float) -> None:
    """The Conv now reads x + offset: add delta * sum(W) to its bias, re-expressed at the new input scale."""
    producer = {o: n for n in qmodel.graph.node for o in n.output}
    weight_dq, bias_dq = producer[conv.input[1]], producer[conv.input[2]]
    w_scale = _array(qmodel, weight_dq.input[1]).astype(np.float64)
    w_zero = _array(qmodel, weight_dq.input[2]).astype(np.float64) if len(weight_dq.input) > 2 else 0.0
    k = _array(qmodel, weight_dq.input[0]).astype(np.float64)
    shape = (-1,) + (1,) * (k.ndim - 1)
    weights = (k - np.reshape(w_zero, shape)) * np.reshape(w_scale, shape)
    bias = _array(qmodel, bias_dq.input[0]).astype(np.float64) * _array(qmodel, bias_dq.input[1]).astype(np.float64)
    bias += delta * weights.reshape(weights.shape[0], -1).sum(axis=1)
    bias_scale = (new_in_scale * w_scale).astype(np.float32)
    info = np.iinfo(np.int32)
    _set(qmodel, bias_dq.input[0], np.clip(np.rint(bias / bias_scale), info.min, info.max).astype(np.int32))
    _set(qmodel, bias_dq.input[1], np.asarray(bias_scale, dtype=np.float32).reshape(
        _array(qmodel, bias_dq.input[1]).shape))
