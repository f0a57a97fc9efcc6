"""Run the artifact in onnxruntime 1.17, the runtime the Nx documentation names (rules A2, A3).

The static rules encode 1.17's known limits (IR <= 9, opset <= 18); this stage proves them on the
real thing: the model must load and run there, and give the outputs the current onnxruntime gives.
1.17 needs numpy < 2, so it lives in its own small environment (created by ./setup.sh as
.venv-nx-reference, or named by NXPORT_REFERENCE_PYTHON) and runs in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from conventions.findings import Finding, Level
from conventions.registry import finding

REFERENCE_VERSION = "1.17.3"
ENV_VAR = "NXPORT_REFERENCE_PYTHON"
DEFAULT_ENV = Path(__file__).resolve().parents[1] / ".venv-nx-reference"
FP32_ATOL = 1e-4  # the same graph on two onnxruntime releases: float summation order only
INT8_ATOL = 2e-2  # integer kernels may round requantization differently between releases


def reference_python() -> Path | None:
    configured = os.environ.get(ENV_VAR)
    candidate = Path(configured) if configured else DEFAULT_ENV / "bin" / "python"
    return candidate if candidate.is_file() else None


def run_reference(model_bytes: bytes, feeds: dict[str, np.ndarray], python: Path, timeout: float = 300) -> dict:
    """Outputs of the model in the reference runtime: {"ok", "onnxruntime", "outputs"/"error", ...}."""
    with tempfile.TemporaryDirectory(prefix="nxport-reference-") as tmp:
        model_path, inputs, outputs = Path(tmp, "model.onnx"), Path(tmp, "in.npz"), Path(tmp, "out.npz")
        model_path.write_bytes(model_bytes)
        np.savez(inputs, **feeds)
        probe = Path(__file__).with_name("_reference_probe.py")
        proc = subprocess.run([str(python), str(probe), str(model_path), str(inputs), str(outputs)],
                              capture_output=True, text=True, timeout=timeout)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode != 0 or not lines:
            return {"ok": False, "stage": "start", "error": (proc.stderr or proc.stdout).strip()[-500:]}
        result = json.loads(lines[-1])
        if result.get("ok"):
            with np.load(outputs) as data:
                result["values"] = [data[f"output_{i}"] for i in range(len(result["outputs"]))]
        return result


def reference_findings(model_bytes: bytes, feeds: dict[str, np.ndarray], current: list[np.ndarray],
                       quantized: bool) -> tuple[list[Finding], dict]:
    python = reference_python()
    if python is None:
        return [finding("A3", f"reference-runtime check skipped: no onnxruntime {REFERENCE_VERSION} environment",
                        level=Level.INFO, fix=f"run ./setup.sh (creates .venv-nx-reference) or set {ENV_VAR}")], {}
    result = run_reference(model_bytes, feeds, python)
    info = {k: v for k, v in result.items() if k not in ("values", "outputs")}
    if not result.get("ok"):
        version = result.get("onnxruntime", REFERENCE_VERSION)
        return [finding("A3", f"onnxruntime {version} (the Nx reference runtime) cannot {result.get('stage', 'run')} "
                              f"the model: {result.get('error', '')}",
                        fix="re-export with opset <= 17 and IR <= 9, standard-domain ops only")], info
    worst = max((float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
                 for a, b in zip(result["values"], current) if a.shape == b.shape and a.size), default=0.0)
    info["max_abs_diff_vs_current"] = worst
    tolerance = INT8_ATOL if quantized else FP32_ATOL
    if worst > tolerance or any(a.shape != b.shape for a, b in zip(result["values"], current)):
        return [finding("A3", f"outputs in onnxruntime {result['onnxruntime']} differ from the current onnxruntime by "
                              f"{worst:.2e} (> {tolerance:.0e})", level=Level.SHOULD,
                        fix="an op behaves differently across runtime releases: check the device's results")], info
    return [], info
