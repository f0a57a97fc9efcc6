"""Run the artifact in onnxruntime 1.17, the runtime the Nx documentation names (rules A2, A3).

The static rules encode 1.17's known limits (IR <= 9, opset <= 18); this stage proves them on the
real thing: the model must load and run there, and give the outputs the current onnxruntime gives.
1.17 needs numpy < 2, so it lives in its own small environment (created by ./setup.sh as
.venv-nx-reference, or named by NXPORT_REFERENCE_PYTHON) and runs in a subprocess.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from nxport.conventions.checking.findings import Finding, Level
from nxport.conventions.checking.registry import producer
from nxport.conventions._reference.env import ENV_VAR, REFERENCE_VERSION, reference_python, run_probe
from nxport.conventions._sandbox import Limits

FP32_ATOL = 1e-4  # the same graph on two onnxruntime releases: float summation order only
INT8_ATOL = 2e-2  # integer kernels may round requantization differently between releases
REFERENCE = producer("reference runtime", ("A3", "H1", "H2"),
                     f"--reference-runtime: the model in onnxruntime {REFERENCE_VERSION}, compared with the current one")


def run_reference(model_bytes: bytes, feeds: dict[str, np.ndarray], python: Path, limits: Limits | None = None) -> dict:
    """Outputs of the model in the reference runtime: {"ok", "onnxruntime", "outputs"/"error", ...}."""
    with tempfile.TemporaryDirectory(prefix="nxport-reference-") as tmp:
        model_path, inputs, outputs = Path(tmp, "model.onnx"), Path(tmp, "in.npz"), Path(tmp, "out.npz")
        model_path.write_bytes(model_bytes)
        np.savez(inputs, **feeds)
        result = run_probe(python, "_reference_probe.py", [str(model_path), str(inputs), str(outputs)],
                           limits or Limits())
        if result.get("ok"):
            with np.load(outputs) as data:
                result["values"] = [data[f"output_{i}"] for i in range(len(result["outputs"]))]
        return result


def missing_environment() -> Finding:
    return REFERENCE.finding("A3", f"reference-runtime check skipped: no onnxruntime {REFERENCE_VERSION} environment",
                   level=Level.INFO, fix=f"run ./setup.sh (creates .venv-nx-reference) or set {ENV_VAR}")


def reference_findings(model_bytes: bytes, feeds: dict[str, np.ndarray], current: list[np.ndarray],
                       quantized: bool, limits: Limits | None = None) -> tuple[list[Finding], dict]:
    python = reference_python()
    if python is None:
        return [missing_environment()], {}
    result = run_reference(model_bytes, feeds, python, limits)
    info = {k: v for k, v in result.items() if k not in ("values", "outputs")}
    if result.get("limit"):
        return [REFERENCE.finding(result["limit"], f"onnxruntime {REFERENCE_VERSION} (the Nx reference runtime): "
                                         f"{result.get('error', '')}")], info
    if not result.get("ok"):
        version = result.get("onnxruntime", REFERENCE_VERSION)
        return [REFERENCE.finding("A3", f"onnxruntime {version} (the Nx reference runtime) cannot {result.get('stage', 'run')} "
                              f"the model: {result.get('error', '')}",
                        fix="re-export with opset <= 17 and IR <= 9, standard-domain ops only")], info
    worst = max((float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
                 for a, b in zip(result["values"], current) if a.shape == b.shape and a.size), default=0.0)
    info["max_abs_diff_vs_current"] = worst
    tolerance = INT8_ATOL if quantized else FP32_ATOL
    if worst > tolerance or any(a.shape != b.shape for a, b in zip(result["values"], current)):
        return [REFERENCE.finding("A3", f"outputs in onnxruntime {result['onnxruntime']} differ from the current onnxruntime by "
                              f"{worst:.2e} (> {tolerance:.0e})", level=Level.SHOULD,
                        fix="an op behaves differently across runtime releases: check the device's results")], info
    return [], info


def reference_stage(ctx, image, report, limits: Limits | None = None) -> None:
    """The feeds of the (bounded) onnxruntime stage, run again in onnxruntime 1.17, and compared;
    then sclblonnx's verdict beside ours (conventions.sclblonnx_opinion)."""
    from nxport.conventions.checking import bounded_runtime
    from nxport.conventions._reference.sclblonnx_opinion import sclblonnx_stage

    limits = limits or Limits()
    if ctx.runtime_run is None:  # runtime=False: run the current onnxruntime now, under the same limits
        bounded_runtime.run(ctx, image, limits)
    data = ctx.model.SerializeToString() if ctx.path is None else Path(ctx.path).read_bytes()
    run = ctx.runtime_run
    if run is not None and run.outputs:  # else the runtime stage already said why the model cannot be fed or run
        quantized = any(n.op_type == "QuantizeLinear" for n in ctx.model.graph.node)
        findings, info = reference_findings(data, run.feeds, list(run.outputs.values()), quantized, limits)
        report.findings.extend(findings)
        report.runtime["reference"] = info
    sclblonnx_stage(ctx, data, report, limits)
