"""What an INT8 artifact really quantizes: compute nodes with 8-bit weights, weight bytes left float.

"INT8" with most layers in float is not what an NPU user needs: an NPU runs the layers that are
INT8 and sends the rest back to the host. These counts lead the report and its summary.
"""

from __future__ import annotations

import numpy as np

COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
_BYTES = {1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 10: 2, 11: 8, 16: 2}  # onnx TensorProto dtype -> bytes


def _weight_input(node, producer: dict, inits: dict):
    """(initializer name, quantized?) of a compute node's weight input, or None if it is an activation."""
    name = node.input[1] if len(node.input) > 1 else ""
    dq = producer.get(name)
    if dq is not None and dq.op_type == "DequantizeLinear" and dq.input[0] in inits:
        return dq.input[0], True
    if name in inits:
        return name, False
    return None


def inventory(model) -> dict:
    """Counts over the Conv/Gemm/MatMul nodes that have a constant weight. A node with 8-bit weights
    whose input is not dequantized from 8 bits (an activation kept float) needs a 16-bit or host path."""
    inits = {t.name: t for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    quantized, float_nodes, float_bytes, int8_bytes, float_inputs = [], [], 0, 0, []
    for node in model.graph.node:
        if node.op_type not in COMPUTE_OPS:
            continue
        found = _weight_input(node, producer, inits)
        if found is None:
            continue
        name, is_quantized = found
        tensor = inits[name]
        size = int(np.prod(tensor.dims)) * _BYTES.get(tensor.data_type, 4)
        if is_quantized and _BYTES.get(tensor.data_type) == 1:
            quantized.append(node.name)
            int8_bytes += size
            source = producer.get(node.input[0])
            if source is None or source.op_type != "DequantizeLinear":  # an 8-bit layer fed a float tensor
                float_inputs.append(node.name)
        else:
            float_nodes.append(node.name)
            float_bytes += size
    return {"compute_nodes": len(quantized) + len(float_nodes), "compute_nodes_int8": len(quantized),
            "compute_nodes_float": sorted(float_nodes), "weight_bytes_int8": int8_bytes,
            "compute_nodes_int8_input": len(quantized) - len(float_inputs),
            "compute_nodes_float_input": sorted(float_inputs),
            "weight_bytes_float": float_bytes}
