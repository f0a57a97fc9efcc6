"""Keep chosen activation tensors float while every weight stays 8-bit (an automatic-mode choice).

A QuantizeLinear -> DequantizeLinear pair on an activation does two things: it rounds to 256 levels
and it clips to the calibrated range. The quantizer folds a Clip(0, 6) or Relu into that range, so
removing the pair would also remove the activation function. Each pair is therefore replaced by a
Clip to the same range: the rounding goes, the clipping stays, and the weights (and the weight
bytes) are untouched. On an NPU those tensors need a 16-bit or host path; the report counts them.
"""

from __future__ import annotations

import numpy as np

from nxport.calibration.quantize import drop_dead_nodes
from nxport.calibration.storage import drop_unused_initializers


def activation_tensors(qmodel) -> list[str]:
    """Tensors quantized by a QuantizeLinear whose input is computed (not an initializer), in graph order."""
    inits = {t.name for t in qmodel.graph.initializer}
    return [n.input[0] for n in qmodel.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in inits]


def keep_float(qmodel, tensors: set[str]) -> int:
    """Replace the Q -> DQ pairs on `tensors` by Clips to their ranges, in place. Returns pairs replaced."""
    import onnx
    from onnx import numpy_helper

    inits = {t.name: t for t in qmodel.graph.initializer}
    producer = {o: n for n in qmodel.graph.node for o in n.output}
    nodes, replaced = [], 0
    for node in qmodel.graph.node:
        quant = producer.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
        if quant is None or quant.op_type != "QuantizeLinear" or quant.input[0] not in tensors:
            nodes.append(node)
            continue
        scale = float(numpy_helper.to_array(inits[quant.input[1]]))
        zero = numpy_helper.to_array(inits[quant.input[2]])
        info = np.iinfo(zero.dtype)
        bounds = []
        for side, level in (("min", info.min), ("max", info.max)):
            name = f"{node.output[0]}_float_{side}"
            qmodel.graph.initializer.append(numpy_helper.from_array(
                np.array(scale * (level - float(zero)), dtype=np.float32), name))
            bounds.append(name)
        nodes.append(onnx.helper.make_node("Clip", [quant.input[0], *bounds], [node.output[0]],
                                           name=f"{node.name}_kept_float"))
        replaced += 1
    del qmodel.graph.node[:]
    qmodel.graph.node.extend(nodes)
    drop_dead_nodes(qmodel)  # the QuantizeLinear nodes nothing reads any more
    drop_unused_initializers(qmodel)
    return replaced
