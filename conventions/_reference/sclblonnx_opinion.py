"""sclblonnx.check as a second opinion beside ours (with --reference-runtime), and why they differ.

sclblonnx 0.3.0 is the legacy Scailable/Nx toolchain's own checker. It needs onnx <= 1.15 (it
refuses newer onnx releases by version number), so it runs in the reference environment, never in
the main one. What it checks: the graph has inputs and outputs, the onnx *library* version, and every
top-level op is in its 111-op whitelist. What it does not: subgraphs, Nx output names, the
normalization doc_string, shapes, or whether the model runs. Its verdict is INFO (rule A6): a
disagreement is explained, never counted as a failure.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from nxport.conventions.checking.findings import Level
from nxport.conventions.checking.registry import producer
from nxport.conventions._sandbox import Limits

SCLBLONNX = producer("sclblonnx opinion", ("A6",),
                     "--reference-runtime: sclblonnx 0.3.0's own check beside ours, and why they differ")
_OPS = re.compile(r"operator\(s\) \[(.*?)\] are currently not supported")


def explain(passed: bool, messages: list[str], musts: list[str]) -> str | None:
    """Why sclblonnx's verdict differs from ours; None when both agree."""
    ours = not musts
    if passed == ours:
        return None
    if not passed:
        reason = next((m for m in messages if "ERROR" in m or "not supported" in m or "Unable" in m), "")
        ops = _OPS.search(reason)
        if ops:
            names = ops.group(1).replace("'", "")
            return (f"its 111-op whitelist is stale (rule A6): {names} are standard ONNX ops that onnxruntime "
                    "1.17, the Nx reference runtime, runs")
        return f"sclblonnx rejects what no Nx rule requires: {reason or 'no reason printed'}"
    return (f"sclblonnx checks only that inputs and outputs exist and that top-level ops are on its list; "
            f"it does not check what fails here: {', '.join(musts)}")


def _verdict(result: dict, musts: list[str]) -> tuple[dict, str]:
    version = result.get("sclblonnx", "0.3.0")
    if not result.get("ok"):
        error = result.get("error", "")
        return {"ok": False, "error": error, "limit": result.get("limit")}, f"sclblonnx {version} could not check the file: {error}"
    passed, messages = bool(result["passed"]), result.get("messages", [])
    why = explain(passed, messages, musts)
    opinion = {"ok": True, "sclblonnx": version, "onnx": result.get("onnx"), "passed": passed, "agrees": why is None,
               "messages": messages, **({"why": why} if why else {})}
    reason = next((m for m in messages if m.startswith("ERROR")), "")
    theirs = "PASS" if passed else f"FAIL ({reason.removeprefix('ERROR: ')})" if reason else "FAIL"
    text = f"sclblonnx {version} check: {theirs}; nxport: {'NOT CONFORMANT' if musts else 'CONFORMANT'}"
    return opinion, text + (f"; they disagree because {why}" if why else "; they agree")


def sclblonnx_stage(ctx, data: bytes, report, limits: Limits | None = None) -> None:
    from nxport.conventions._reference.env import reference_python, run_probe

    python = reference_python()
    if python is None:
        report.runtime["sclblonnx"] = {"ok": False, "error": "no reference environment"}
        return
    with tempfile.TemporaryDirectory(prefix="nxport-sclblonnx-") as tmp:
        path = Path(tmp, "model.onnx")
        path.write_bytes(data)
        result = run_probe(python, "_sclblonnx_probe.py", [str(path)], limits or Limits())
    musts = sorted({f.rule_id for f in report.must_findings})
    opinion, text = _verdict(result, musts)
    report.runtime["sclblonnx"] = opinion
    report.findings.append(SCLBLONNX.finding("A6", text, level=Level.INFO,
                                   fix="nothing to do: sclblonnx is the legacy toolchain's checker; the Nx rules "
                                   "above decide (see the README, 'sclblonnx as a second opinion')"))
