"""Graph-level rules: opset window, IR version, static shapes, and the artifact kind the toolchain takes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from nxport.conventions.checking.findings import Level
from nxport.conventions.targets.preflight.graph import GraphView
from nxport.conventions.targets import Acceptance, Precision, TargetProfile


@dataclass(frozen=True)
class Issue:
    kind: str  # rule suffix: T-<target>-<kind>
    level: Level
    message: str
    fix: str
    source: str  # a key of the profile's sources
    blocking: bool = False  # the toolchain stops: "will not compile"


def graph_issues(view: GraphView, profile: TargetProfile, precision: Precision) -> list[Issue]:
    return _opset(view, profile) + _shapes(view, profile) + _artifact(view, profile, precision)


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
    return _qdq_rules(view, art.qdq_rules, art.source)


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
