"""Small helpers the graph-building tests share."""

from __future__ import annotations

import onnx


def rename_output(model: onnx.ModelProto, old: str, new: str) -> None:
    for node in model.graph.node:
        node.output[:] = [new if o == old else o for o in node.output]
    for out in model.graph.output:
        if out.name == old:
            out.name = new
