"""ONNX Runtime static QDQ quantization, then the artifact put back into Nx shape.

Ranges are computed once per calibration setting (`collect_ranges`, the expensive pass) and saved
as an ORT calibration cache, so many recipes (other types, layers kept in float) reuse them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from nxport.calibration.recipes import CalibrationMethodName, QuantTypeName, Recipe
from nxport.conventions.contract import INT8_KEY as INT8_METADATA_KEY
from nxport.conventions.limits import IR_VERSION_MAX as MAX_IR_VERSION

# Ops that end a network's numeric core; everything after the last of them stays float.
COMPUTE_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
CALIBRATION_CHUNK = 16  # histogram calibrators merge per chunk: memory stays bounded


def _ort_method(method: CalibrationMethodName):
    from onnxruntime.quantization import CalibrationMethod

    return {CalibrationMethodName.MINMAX: CalibrationMethod.MinMax, CalibrationMethodName.MINMAX_MEAN: CalibrationMethod.MinMax,
            CalibrationMethodName.MSE: CalibrationMethod.MinMax,  # ranges.py turns histograms into min/max
            CalibrationMethodName.PERCENTILE: CalibrationMethod.Percentile,
            CalibrationMethodName.ENTROPY: CalibrationMethod.Entropy}[method]


def _ort_type(kind: QuantTypeName):
    from onnxruntime.quantization import QuantType

    return QuantType.QInt8 if kind is QuantTypeName.INT8 else QuantType.QUInt8


def output_tail_nodes(model) -> list[str]:
    """Nodes from the graph outputs back to (not including) the last Conv/Gemm/MatMul:
    Softmax, ReduceL2/Div, LpNormalization, Clip, pooling of an embedding head..."""
    producers = {out: node for node in model.graph.node for out in node.output}
    tail, stack, seen = [], [o.name for o in model.graph.output], set()
    while stack:
        node = producers.get(stack.pop())
        if node is None or node.name in seen or node.op_type in COMPUTE_OPS:
            continue
        seen.add(node.name)
        tail.append(node.name)
        stack.extend(node.input)
    return tail


def _calibrator_options(recipe: Recipe) -> dict:
    options = {"symmetric": recipe.symmetric_activations}
    if recipe.method is CalibrationMethodName.MINMAX_MEAN:
        options["moving_average"] = True
    # Not ORT's max_intermediate_outputs: in 1.31 it drops the buffered outputs instead of merging
    # them. Memory is bounded by feeding collect_data() in chunks (it merges ranges per call).
    if recipe.method not in (CalibrationMethodName.MINMAX, CalibrationMethodName.MINMAX_MEAN):
        options["num_bins"] = recipe.histogram_bins
        options["num_quantized_bins"] = 128 if recipe.method is CalibrationMethodName.ENTROPY else None
        options["percentile"] = recipe.percentile
    return {k: v for k, v in options.items() if v is not None}


def collect_ranges(model_path: Path, make_reader, recipe: Recipe, workdir: Path) -> Path:
    """Run the calibrator over the stream from `make_reader()` in chunks; -> ORT cache file."""

    with contextlib.redirect_stdout(io.StringIO()):  # ORT's histogram calibrators print() their progress
        return _collect(model_path, make_reader, recipe, workdir)


def _collect(model_path: Path, make_reader, recipe: Recipe, workdir: Path) -> Path:
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    calibrator = create_calibrator(model_path, None, augmented_model_path=str(workdir / "augmented.onnx"),
                                   calibrate_method=CalibrationMethod.Percentile  # collects histograms
                                   if recipe.method is CalibrationMethodName.MSE else _ort_method(recipe.method),
                                   extra_options=_calibrator_options(recipe))
    reader = make_reader()
    # MinMax keeps two scalars per tensor and image: one call sees every image, so the per-image
    # average is over all of them (ORT's moving average would weight later chunks more).
    chunk = None if recipe.method in (CalibrationMethodName.MINMAX, CalibrationMethodName.MINMAX_MEAN) \
        else CALIBRATION_CHUNK
    while not reader.exhausted:
        reader.chunk(chunk or 1 << 30)
        calibrator.collect_data(reader)
    ranges = _mse_ranges(calibrator, model_path) if recipe.method is CalibrationMethodName.MSE \
        else calibrator.compute_data()
    cache = workdir / f"ranges-{recipe.method.value}-{int(recipe.symmetric_activations)}-{len(list(workdir.iterdir()))}.json"
    save_tensors_data(ranges, cache)
    return cache


def _mse_ranges(calibrator, model_path: Path):
    """The histograms ORT collected, turned into per-tensor MSE-optimal ranges (calibration/ranges.py)."""
    import numpy as np
    import onnx
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorsData

    from nxport.calibration.ranges import ranges_from_histograms

    inputs = {i.name for i in onnx.load(str(model_path), load_external_data=False).graph.input}
    ranges = ranges_from_histograms(calibrator.collector.histogram_dict, keep_full=inputs)
    return TensorsData(CalibrationMethod.MinMax, {k: (np.float32(lo), np.float32(hi)) for k, (lo, hi) in ranges.items()})


def read_ranges(cache: Path) -> dict[str, tuple[float, float]]:
    from onnxruntime.quantization.calibrate import load_tensors_data

    import numpy as np

    return {name: (float(np.min(data.lowest)), float(np.max(data.highest)))
            for name, data in load_tensors_data(cache).items()}


def run_quantizer(fp32_path: Path, recipe: Recipe, ranges_cache: Path, output: Path, tail: list[str]) -> None:
    from onnxruntime.quantization import QuantFormat, quantize_static

    excluded = list(recipe.excluded_nodes) + (tail if recipe.keep_output_tail_float else [])
    logging.getLogger().setLevel(logging.ERROR)  # ORT logs "please pre-process" on every call
    quantize_static(
        str(fp32_path), str(output), None, quant_format=QuantFormat.QDQ, per_channel=recipe.per_channel,
        activation_type=_ort_type(recipe.activation_type), weight_type=_ort_type(recipe.weight_type),
        nodes_to_exclude=sorted(set(excluded)), calibrate_method=_ort_method(recipe.method),
        reduce_range=recipe.reduce_range,
        calibration_cache_path=str(ranges_cache),
        extra_options={"ActivationSymmetric": recipe.symmetric_activations, "WeightSymmetric": True},
    )


@dataclass(frozen=True)
class Stamp:
    """What `nxport.int8` records, besides the recipe."""

    calibration_sha256: str
    calibration_samples: int
    float_nodes: tuple[str, ...]


def stamp_settings(recipe: Recipe, stamp: Stamp) -> dict:
    """What `nxport.int8` records, whatever the cut."""
    import onnxruntime

    return {"recipe": recipe.to_dict(), "format": "QDQ", "onnxruntime": onnxruntime.__version__,
            "calibration_sha256": stamp.calibration_sha256, "calibration_samples": stamp.calibration_samples,
            "float_nodes": list(stamp.float_nodes)}


def dequantize_tail_inputs(qmodel, tail: set[str]) -> int:
    """Feed the float tail (Softmax, L2 normalization) the float tensor itself, not a Q -> DQ copy.

    ORT still quantizes the last Gemm/Conv's output when its consumer is excluded; 8-bit logits
    shift every probability the Softmax produces. Returns how many Q/DQ pairs were bypassed.
    """
    producers = {out: n for n in qmodel.graph.node for out in n.output}
    bypassed = 0
    for node in qmodel.graph.node:
        if node.name not in tail:
            continue
        for i, name in enumerate(node.input):
            dq = producers.get(name)
            q = producers.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is not None and q.op_type == "QuantizeLinear":
                node.input[i] = q.input[0]
                bypassed += 1
    return bypassed


def drop_dead_nodes(qmodel) -> None:
    """Remove Q/DQ pairs bypassed above and constants orphaned by ORT's Conv+Clip fusion."""
    used = {o.name for o in qmodel.graph.output}
    keep = []
    for node in reversed(list(qmodel.graph.node)):  # consumers first, so a dead Q after its DQ goes too
        if node.op_type in ("QuantizeLinear", "DequantizeLinear", "Constant") and not any(
                o in used for o in node.output):
            continue
        keep.append(node)
        used.update(node.input)
    del qmodel.graph.node[:]
    qmodel.graph.node.extend(reversed(keep))


def finalize(qmodel, fp32_model, recipe: Recipe, stamp: Stamp):
    """Strip unused opset imports, restore names/doc_string/metadata, IR <= 9, record settings."""
    import onnx

    if recipe.keep_output_tail_float:
        dequantize_tail_inputs(qmodel, set(output_tail_nodes(fp32_model)))
    drop_dead_nodes(qmodel)

    used = {node.domain for node in qmodel.graph.node}
    kept = [op for op in qmodel.opset_import if op.domain in ("", "ai.onnx") or op.domain in used]
    del qmodel.opset_import[:]
    qmodel.opset_import.extend(kept)
    qmodel.ir_version = min(qmodel.ir_version, fp32_model.ir_version, MAX_IR_VERSION)
    qmodel.graph.doc_string = fp32_model.graph.doc_string
    qmodel.graph.name = fp32_model.graph.name
    for field_name in ("producer_name", "producer_version", "domain", "model_version", "doc_string"):
        setattr(qmodel, field_name, getattr(fp32_model, field_name))
    _check_io_names(qmodel, fp32_model)
    del qmodel.metadata_props[:]
    for entry in fp32_model.metadata_props:
        if entry.key != INT8_METADATA_KEY:
            qmodel.metadata_props.add(key=entry.key, value=entry.value)
    qmodel.metadata_props.add(key=INT8_METADATA_KEY, value=json.dumps(stamp_settings(recipe, stamp), sort_keys=True,
                                                                     separators=(",", ":")))
    onnx.checker.check_model(qmodel, full_check=True)
    return qmodel


def _check_io_names(qmodel, fp32_model) -> None:
    got = ([i.name for i in qmodel.graph.input], [o.name for o in qmodel.graph.output])
    want = ([i.name for i in fp32_model.graph.input], [o.name for o in fp32_model.graph.output])
    if got != want:  # ORT keeps them; a change would silently break the Nx post-processing
        raise RuntimeError(f"quantization renamed the model's inputs/outputs: {got} != {want}")


def read_int8_settings(model) -> dict:
    for entry in model.metadata_props:
        if entry.key == INT8_METADATA_KEY:
            return json.loads(entry.value)
    return {}
