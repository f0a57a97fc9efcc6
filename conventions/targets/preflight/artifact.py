"""Graph-level rules: opset window, IR version, static shapes, and the artifact kind the toolchain takes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from nxport.conventions.checking.findings import Level
from nxport.conventions.targets.preflight.graph import QDQ_OPS, GraphView
from nxport.conventions.targets import Acceptance, FloatOutputEffect, Precision, TargetProfile


@dataclass(frozen=True)
class Issue:
    kind: str  # rule suffix: T-<target>-<kind>
    level: Level
    message: str
    fix: str
    source: str  # a key of the profile's sources
    blocking: bool = False  # the toolchain stops: "will not compile"


def graph_issues(view: GraphView, profile: TargetProfile, precision: Precision) -> list[Issue]:
    return (_opset(view, profile) + _shapes(view, profile) + _element_types(view, profile)
            + _artifact(view, profile, precision))


def _opset(view: GraphView, profile: TargetProfile) -> list[Issue]:
    window, src, opset = profile.opset, profile.opset["source"], view.opset
    issues = []
    if window.get("max") is not None and opset > window["max"]:
        issues.append(Issue("opset", Level.MUST, f"opset {opset} is above the toolchain's maximum {window['max']}",
                            f"re-export with opset <= {window['max']} (nxport export --opset {window['max']})",
                            src, True))
    if window.get("min") is not None and opset < window["min"]:
        issues.append(Issue("opset", Level.MUST, f"opset {opset} is below the toolchain's minimum {window['min']}",
                            f"re-export with opset >= {window['min']}", src, True))
    rec = window.get("recommended")
    if rec is not None and opset != rec and not issues:
        issues.append(Issue("opset", Level.INFO, f"opset {opset}; the vendor recommends opset {rec}",
                            f"if the toolchain rejects an op, re-export with --opset {rec}", src))
    if profile.ir_version_max is not None and view.ir_version > profile.ir_version_max:
        issues.append(Issue("ir", Level.SHOULD,
                            f"IR version {view.ir_version} is above the documented {profile.ir_version_max}",
                            f"set model.ir_version = {profile.ir_version_max} if the toolchain's onnx refuses the file",
                            src))
    return issues


def _shapes(view: GraphView, profile: TargetProfile) -> list[Issue]:
    dynamic = {i: view.shape(i) for i in view.graph_inputs if not view.is_static(i)}
    if not dynamic or not profile.static_shapes_required:
        return []
    listed = ", ".join(f"{name} {shape}" for name, shape in dynamic.items())
    return [Issue("shape", Level.MUST, f"dynamic input shape(s): {listed}; the toolchain compiles static shapes only",
                  "export without dynamic axes (nxport exports static shapes), or fix them with "
                  "onnxruntime.tools.make_dynamic_shape_fixed", profile.static_shapes_source, True)]


def graph_element_types(view: GraphView, inputs_only: bool) -> dict[str, str]:
    """Element type name -> one tensor carrying it: graph inputs, or every typed tensor, initializer and
    Cast / CastLike / Constant target of the main graph."""
    names = onnx.TensorProto.DataType.Name
    found: dict[str, str] = {}
    tensors = view.graph_inputs if inputs_only else list(view.dtypes)
    for tensor in tensors:
        if view.dtypes.get(tensor):
            found.setdefault(names(view.dtypes[tensor]), tensor)
    if not inputs_only:
        for node, label in zip(view.nodes, view.labels):
            for attr in node.attribute:
                if attr.name == "to" and attr.type == onnx.AttributeProto.INT and attr.i:
                    found.setdefault(names(attr.i), f"{label}.to")
                elif attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type:
                    found.setdefault(names(attr.t.data_type), f"{label}.{attr.name}")
    return found


def _element_types(view: GraphView, profile: TargetProfile) -> list[Issue]:
    rule = profile.element_types
    if rule is None:
        return []
    found = graph_element_types(view, rule.scope == "inputs")
    bad = {t: where for t, where in found.items() if t in rule.unsupported}
    if not bad:
        return []
    where = "graph input" if rule.scope == "inputs" else "tensor"
    listed = ", ".join(f"{t} ({where} {name})" for t, name in sorted(bad.items()))
    what = "the toolchain cannot read" if rule.stops_build else "the NPU does not take"
    return [Issue("dtype", Level.MUST if rule.stops_build else Level.SHOULD,
                  f"element type(s) {listed}: {what} {', '.join(rule.unsupported)}",
                  "cast to a type the toolchain takes in the export (float32 / float16 / int8)", rule.source,
                  rule.stops_build)]


def _artifact(view: GraphView, profile: TargetProfile, precision: Precision) -> list[Issue]:
    art = profile.artifact
    if precision is not Precision.INT8:
        if art.float_input is Acceptance.NEEDS_CALIBRATION:
            return [Issue("artifact", Level.INFO,
                          "float model: the toolchain quantizes it and needs calibration images",
                          "give the vendor compiler 100-500 representative photos of the deployment scene", art.source)]
        if art.float_input is Acceptance.REJECTED:
            return [Issue("artifact", Level.MUST, "float model: the toolchain takes quantized (QDQ) models only",
                          "calibrate first: nxport calibrate MODEL.onnx --images DIR", art.source, True)]
        return []
    if art.qdq is Acceptance.UNKNOWN:
        return [Issue("artifact", Level.INFO,
                      "QDQ model: whether the toolchain takes pre-quantized models is not public",
                      "give the toolchain the float artifact and calibration images instead", art.source)]
    if art.qdq is Acceptance.REJECTED:
        return [Issue("artifact", Level.MUST, "QDQ model: the toolchain takes float models only",
                      "give it the float artifact and calibration images", art.source, True)]
    return _qdq_rules(view, art.qdq_rules, art.source) + _quantized_outputs(view, profile)


def float_output_nodes(view: GraphView) -> list[int]:
    """Nodes that compute on dequantized data but hand out float: a run-time input comes from a
    DequantizeLinear and an output reaches a graph output or a consumer other than QuantizeLinear
    (e.g. the classifier's final Gemm when calibration leaves its output unquantized)."""
    found = []
    for i, node in enumerate(view.nodes):
        if node.op_type in QDQ_OPS or node.op_type == "Constant" or view.is_folded_node(i):
            continue
        dequantized = any(inp and not view.is_constant(inp) and _produced_by(view, inp, "DequantizeLinear")
                          for inp in node.input)
        if dequantized and any(_float_out(view, out) for out in node.output if out):
            found.append(i)
    return found


def _produced_by(view: GraphView, tensor: str, op_type: str) -> bool:
    index = view.producer.get(tensor)
    return index is not None and view.nodes[index].op_type == op_type


def _float_out(view: GraphView, tensor: str) -> bool:
    consumers = view.consumers.get(tensor, [])
    return tensor in view.graph_outputs or any(view.nodes[j].op_type != "QuantizeLinear" for j in consumers)


def _quantized_outputs(view: GraphView, profile: TargetProfile) -> list[Issue]:
    rule = profile.artifact.quantized_output
    nodes = [view.labels[i] for i in float_output_nodes(view)] if rule else []
    if not nodes:
        return []
    named = ", ".join(nodes[:4]) + (f" (+{len(nodes) - 4} more)" if len(nodes) > 4 else "")
    fix = (f"add a Q/DQ pair after {named} (nxport calibrate does this by default from issue 24) "
           "or let the host run it")
    what = f"{len(nodes)} node(s) take DequantizeLinear inputs but give a float output (no QuantizeLinear after): {named}"
    if rule.effect is FloatOutputEffect.FAIL:
        return [Issue("qout", Level.MUST, f"{what}; the NPU refuses them, so the build stops when the CPU fallback "
                      f"is off (with it on, they run on the CPU)", fix, rule.source, True)]
    return [Issue("qout", Level.SHOULD, f"{what}; the NPU keeps them in float16, not int8", fix, rule.source)]


def _qdq_params(view: GraphView) -> tuple[set[str], set[str], list[np.ndarray], list[np.ndarray]]:
    """Activation dtypes, weight dtypes, zero points and scales of every DequantizeLinear."""
    act, weight, zero_points, scales = set(), set(), [], []
    for node in view.nodes:
        if node.op_type != "DequantizeLinear":
            continue
        zp = view.value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        dtype = onnx.helper.tensor_dtype_to_np_dtype(view.dtypes.get(node.input[0]) or onnx.TensorProto.UINT8).name
        if dtype == "int32":
            continue  # a bias: int32 by construction on every toolchain
        (weight if view.is_constant(node.input[0]) else act).add(dtype)
        if zp is not None:
            zero_points.append(zp)
        scale = view.value(node.input[1])
        if scale is not None:
            scales.append(scale)
    return act, weight, zero_points, scales


def _qdq_rules(view: GraphView, rules: dict, source: str) -> list[Issue]:
    act, weight, zero_points, scales = _qdq_params(view)
    issues = []
    for kind, found, allowed in (("activation", act, rules.get("activation_dtypes")),
                                 ("weight", weight, rules.get("weight_dtypes"))):
        bad = sorted(found - set(allowed or found))
        if bad:  # "advice": the source says "typically", not "only"
            stops = rules.get("dtype_mismatch", "fail") == "fail"
            issues.append(Issue("qdq", Level.MUST if stops else Level.SHOULD,
                                f"{kind} dtype(s) {bad}; the toolchain documents {allowed}",
                                f"re-quantize with {kind} type in {allowed}", source, stops))
    if rules.get("symmetric") and any(np.any(z != 0) for z in zero_points):
        issues.append(Issue("qdq", Level.MUST, "asymmetric quantization (non-zero zero points); the INT8 flow takes "
                            "symmetric int8 (zero point 0)", "re-quantize symmetric (AMD Quark XINT8 or A8W8 config)",
                            source, True))
    elif rules.get("power_of_two_scales") and scales and not all(_power_of_two(s) for s in scales):
        issues.append(Issue("qdq", Level.INFO,
                            "float scales: this is A8W8, not XINT8 (power-of-two scales, fastest on the NPU)",
                            "for peak speed re-quantize with the XINT8 (power-of-two scale) config", source))
    return issues


def _power_of_two(scale: np.ndarray) -> bool:
    exponent = np.log2(np.asarray(scale, dtype=np.float64))
    return bool(np.all(np.isfinite(exponent)) and np.all(exponent == np.round(exponent)))
