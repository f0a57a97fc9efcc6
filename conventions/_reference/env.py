"""Where the Nx reference interpreter lives (.venv-nx-reference: onnxruntime 1.17, sclblonnx) and how a
probe script runs in it under the checker's limits. Shared by the reference-runtime stage and the
sclblonnx second opinion, which therefore never import each other."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from nxport.conventions._sandbox import Limits, is_memory_error, preexec_limits

REFERENCE_VERSION = "1.17.3"
ENV_VAR = "NXPORT_REFERENCE_PYTHON"
DEFAULT_ENV = Path(__file__).resolve().parents[2] / ".venv-nx-reference"


def reference_python() -> Path | None:
    configured = os.environ.get(ENV_VAR)
    candidate = Path(configured) if configured else DEFAULT_ENV / "bin" / "python"
    return candidate if candidate.is_file() else None


def run_probe(python: Path, script: str, args: list[str], limits: Limits) -> dict:
    """One JSON line from a probe script run in the reference interpreter, under `limits`.

    {"ok": False, "limit": "H1" | "H2", ...} when the wall clock or the memory cap ended it."""
    command = [str(python), str(Path(__file__).parent / script), *args]  # a name here, or an absolute path
    left = limits.seconds_left()  # the verdict's one wall-clock budget, not a fresh one per stage
    if left <= 0:
        return {"ok": False, "stage": "start", "limit": "H1",
                "error": f"the {limits.timeout_s:g} s limit was spent before this stage started"}
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=left,
                              preexec_fn=preexec_limits(limits.memory_mb * 2**20))
    except subprocess.TimeoutExpired:
        return {"ok": False, "stage": "run", "limit": "H1", "error": f"no result within {limits.timeout_s:g} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode < 0:
        return {"ok": False, "stage": "run", "limit": "H2", "error": f"killed by signal {-proc.returncode}"}
    if proc.returncode != 0 or not lines:
        error = (proc.stderr or proc.stdout).strip()[-500:]
        return {"ok": False, "stage": "start", "error": error, **({"limit": "H2"} if is_memory_error(error) else {})}
    result = json.loads(lines[-1])
    if not result.get("ok") and is_memory_error(result.get("error", "")):
        result["limit"] = "H2"
    return result
