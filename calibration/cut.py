"""Where a graph is cut for INT8: the part that is quantized, and what stays float.

The engine quantizes one graph with one recipe; a kind only says where that graph ends:
- `WholeGraph` (classifiers, embeddings): the whole artifact; the output tail after the last
  Conv/Gemm/MatMul (Softmax, L2 normalization) is the float part, and `finalize` puts the INT8
  graph back into Nx shape.
- `DetectorHead` (detectors): the network up to the raw head the exporter recorded
  (`metadata_props["nxport"].head.raw_output`); the box decode inside it and the NMS tail after it
  stay float, so NMS, thresholds and the mask behave exactly as in FP32. The quantized network is
  recomposed with the original float tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nxport.calibration.errors import NotAnNxArtifactError
from nxport.calibration.quantize import Stamp, finalize, output_tail_nodes, stamp_settings
from nxport.conventions.contract import INT8_KEY, set_metadata


@dataclass(frozen=True)
class WholeGraph:
    """The artifact itself is quantized; its output tail is the float part."""

    fp32_model: object  # onnx.ModelProto
    quantized_path: Path  # the artifact itself
    float_tail: tuple[str, ...]  # Softmax, ReduceL2/Div... after the last Conv/Gemm/MatMul
    scope: str = "whole graph; the output tail after the last Conv/Gemm/MatMul float"

    def finish(self, qmodel, recipe, stamp: Stamp):
        return finalize(qmodel, self.fp32_model, recipe, stamp)


@dataclass(frozen=True)
class DetectorHead:
    """The network (image- -> raw head) is quantized; the decode inside it and the NMS tail are float."""

    fp32_model: object  # the whole artifact
    network: object  # image- -> raw head
    tail: object  # raw head + optional inputs -> bboxes-
    raw_output: str
    quantized_path: Path  # the network, saved for onnxruntime's quantizer
    float_tail: tuple[str, ...]  # the box decode after the network's last convolutions
    scope: str = "network up to its last convolutions; box decode and NMS tail float"

    def finish(self, qmodel, recipe, stamp: Stamp):
        from nxport.exporters.detection_tail import compose

        qmodel.ir_version = min(qmodel.ir_version, self.fp32_model.ir_version)  # rule A2
        del qmodel.graph.value_info[:]
        model = compose(qmodel, self.tail, self.raw_output)
        model.graph.doc_string = self.fp32_model.graph.doc_string
        del model.metadata_props[:]
        model.metadata_props.extend(e for e in self.fp32_model.metadata_props if e.key != INT8_KEY)
        set_metadata(model, INT8_KEY, {**stamp_settings(recipe, stamp), "scope": self.scope})
        return model


def cut_for(artifact, fp32_model, workdir: Path):
    """The cut the artifact's output kind asks for (a kind with a raw head is cut there)."""
    from nxport.conventions.contract import OutputKind

    if artifact.contract.kind is not OutputKind.BBOXES:
        return WholeGraph(fp32_model, artifact.path, tuple(output_tail_nodes(fp32_model)))
    raw = (artifact.contract.provenance.get("head") or {}).get("raw_output")
    if not raw:
        raise NotAnNxArtifactError(artifact.path, "no recorded raw head (metadata_props['nxport'].head.raw_output); "
                                   "export it with `nxport export detection`")
    import onnx

    network, tail = split_at_head(fp32_model, artifact.input_name, raw, artifact.contract.output.name,
                                  tuple(t.name for t in artifact.contract.optional_inputs))
    path = workdir / "network.onnx"
    onnx.save(network, str(path))
    return DetectorHead(fp32_model, network, tail, raw, path, tuple(decode_nodes(network)))


def split_at_head(model, input_name: str, raw_output: str, output_name: str, optional_inputs: tuple[str, ...]):
    """(network: image- -> raw head, tail: raw head + optional inputs -> bboxes-) from the single file."""
    from onnx.utils import Extractor

    extractor = Extractor(model)
    network = extractor.extract_model([input_name], [raw_output])
    tail = extractor.extract_model([raw_output, *optional_inputs], [output_name])
    for part in (network, tail):
        del part.graph.value_info[:]  # intermediate shapes: recomputed by onnxruntime, duplicates break merging
        part.ir_version = model.ir_version
        del part.opset_import[:]
        part.opset_import.extend(model.opset_import)
    return network, tail


def decode_nodes(network) -> list[str]:
    """Nodes after the last convolutions: the box decode (DFL softmax, anchor grid arithmetic, the
    Concat of pixel coordinates with 0..1 scores). One uint8 scale over [0, 640] px would round every
    score to 0, so these stay float, as in the Nx Hailo flow (compiled up to the last Convs)."""
    consumers: dict[str, list] = {}
    for node in network.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    reaches_conv: dict[int, bool] = {}
    for node in reversed(network.graph.node):  # ONNX graphs are topologically sorted
        below = [c for out in node.output for c in consumers.get(out, [])]
        reaches_conv[id(node)] = any(c.op_type == "Conv" or reaches_conv.get(id(c), False) for c in below)
    return [n.name for n in network.graph.node if n.op_type != "Conv" and not reaches_conv[id(n)] and n.name]
