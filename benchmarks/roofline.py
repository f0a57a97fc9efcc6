"""Closeness to the limit: the model's FLOPs (counted from the ONNX graph, cross-checked with
torch's FlopCounterMode) divided by the median latency, against the CPU's FP32 peak.

Counted: Conv (2 * output elements * Cin/group * kh * kw), Gemm and MatMul (2 * output elements * K),
i.e. 2 FLOPs per multiply-accumulate, as FlopCounterMode counts. Elementwise ops, Softmax, LayerNorm
and pooling are not counted (a few % at most for these models), so the ratio slightly flatters neither side.
"""

from __future__ import annotations

import numpy as np

COUNTED_OPS = ("Conv", "Gemm", "MatMul")


def onnx_shapes(model) -> dict[str, tuple[int, ...]]:
    """Static shapes of every tensor after onnx shape inference (inputs, outputs, values, initializers)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {t.name: tuple(t.dims) for t in inferred.graph.initializer}
    graph = inferred.graph
    for value in (*graph.input, *graph.value_info, *graph.output):
        dims = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = tuple(d.dim_value for d in dims)
    return shapes


def node_flops(node, shapes: dict) -> int | None:
    """FLOPs of one counted node; None when a needed shape is unknown (the caller reports it)."""
    out = shapes.get(node.output[0])
    if out is None:
        return None
    if node.op_type == "Conv":
        weight = shapes.get(node.input[1])
        return None if weight is None else 2 * int(np.prod(out)) * int(np.prod(weight[1:]))
    a = shapes.get(node.input[0])
    if a is None:
        return None
    if node.op_type == "Gemm":
        trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
        k = a[0] if trans_a else a[1]
    else:  # MatMul: [..., M, K] x [..., K, N]; a 1-D A is [K]
        k = a[-1]
    return 2 * int(np.prod(out)) * int(k)


def count_onnx_flops(model) -> dict:
    shapes = onnx_shapes(model)
    total, by_op, unknown = 0, {}, []
    for node in model.graph.node:
        if node.op_type not in COUNTED_OPS:
            continue
        flops = node_flops(node, shapes)
        if flops is None:
            unknown.append(node.name or node.output[0])
            continue
        total += flops
        by_op[node.op_type] = by_op.get(node.op_type, 0) + flops
    return {"flops": total, "by_op": by_op, "nodes_without_shape": unknown}


def count_torch_flops(module, x: np.ndarray) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        module(torch.from_numpy(x))
    return int(counter.get_total_flops())


def closeness(flops: int, median_ms: float, machine: dict) -> dict:
    achieved = flops / (median_ms / 1000.0) / 1e9
    return {"gflops_per_s": round(achieved, 2), "fraction_of_peak": round(achieved / machine["peak_gflops_per_s"], 4),
            "fraction_of_gemm": round(achieved / machine["gemm_gflops_per_s"], 4)}


def roofline(model_bytes: bytes, module, x: np.ndarray, latency: dict, machine: dict) -> dict:
    """FLOPs both ways and achieved GFLOP/s of each runtime (from the ONNX count, the same math for both)."""
    import onnx

    graph = count_onnx_flops(onnx.load_from_string(model_bytes))
    torch_flops = count_torch_flops(module, x)
    result = {
        "gflops_onnx": round(graph["flops"] / 1e9, 4), "gflops_torch_counter": round(torch_flops / 1e9, 4),
        "counter_disagreement": round(abs(graph["flops"] - torch_flops) / max(torch_flops, 1), 4),
        "gflops_by_op": {k: round(v / 1e9, 4) for k, v in graph["by_op"].items()},
        "nodes_without_shape": graph["nodes_without_shape"], "peak_gflops_per_s": machine["peak_gflops_per_s"],
        "gemm_gflops_per_s": machine["gemm_gflops_per_s"],
    }
    for runtime in ("ort", "torch"):
        result[runtime] = closeness(graph["flops"], latency[runtime]["median_ms"], machine)
    return result
