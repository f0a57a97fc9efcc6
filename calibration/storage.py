"""How the symmetric 8-bit weight grid is stored, so that each runtime computes it exactly.

The grid is the same in both storages: w = s * k, k in -127..127, one scale s per output channel.
- INT8: k as int8, zero point 0. What NPU compilers expect.
- UINT8_ZP128: k + 128 as uint8, zero point 128 on every channel. On x86 AVX2 without VNNI,
  onnxruntime's fused uint8 x int8 Conv kernels add pairs of products in 16 bits with saturation
  (wrong results with full 8-bit weights); uint8 x uint8 takes another kernel that computes
  exactly. Equal per-channel zero points are also what onnxruntime 1.17's QLinearConv requires.
The rewrite is lossless: dequantized weights are bit-identical.
"""

from __future__ import annotations

import enum

import numpy as np

UINT8_ZERO_POINT = 128


class WeightStorage(enum.Enum):
    INT8 = "int8"
    UINT8_ZP128 = "uint8-zp128"
    AUTO = "auto"  # UINT8_ZP128 where int8 would hit the saturating kernel (x86 without VNNI), else INT8


def cpu_saturates_u8s8() -> bool:
    """True on x86 CPUs without AVX-VNNI / AVX512-VNNI (where u8 x s8 pair sums saturate int16)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    try:
        flags = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return True  # unknown x86: assume the common non-VNNI case, which is always exact
    return " avx_vnni" not in flags and " avx512_vnni" not in flags


def resolve(storage: WeightStorage) -> WeightStorage:
    if storage is not WeightStorage.AUTO:
        return storage
    return WeightStorage.UINT8_ZP128 if cpu_saturates_u8s8() else WeightStorage.INT8


def weight_dequantizers(model):
    """DequantizeLinear nodes whose quantized input is an initializer (the weights and biases)."""
    inits = {t.name for t in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]


def store_weights(model, storage: WeightStorage) -> int:
    """Rewrite int8 zero-point-0 weights into `storage` in place. Returns how many tensors changed."""
    from onnx import numpy_helper

    if resolve(storage) is not WeightStorage.UINT8_ZP128:
        return 0
    inits = {t.name: t for t in model.graph.initializer}
    changed = 0
    for node in weight_dequantizers(model):
        values, zp_name = inits[node.input[0]], node.input[2] if len(node.input) > 2 else ""
        if values.data_type != 3 or not zp_name or zp_name not in inits:  # 3 = INT8
            continue
        zero = numpy_helper.to_array(inits[zp_name])
        if np.any(zero != 0):
            continue
        k = numpy_helper.to_array(values).astype(np.int16)
        values.CopyFrom(numpy_helper.from_array((k + UINT8_ZERO_POINT).astype(np.uint8), values.name))
        # A zero point of its own: ORT may share one zero-point tensor between several weights.
        node.input[2] = f"{values.name}_zp128"
        model.graph.initializer.append(numpy_helper.from_array(
            np.full(zero.shape, UINT8_ZERO_POINT, dtype=np.uint8), node.input[2]))
        changed += 1
    drop_unused_initializers(model)
    return changed


def drop_unused_initializers(model) -> None:
    used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    keep = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
