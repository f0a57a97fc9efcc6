"""`--target` for exporters: pick an opset every target takes, run the NPU preflight before writing.

Every task takes it (exporters.pipeline): the opset is clamped into every target profile's documented
window (conventions/targets), and the preflight verdicts of every graph go into the export report's
provenance (`npu_preflight`). An ONNX detector keeps its own opset; its verdicts say whether a target
takes it. Other target-driven export choices (GELU form, attention without Einsum, INT8 recipe
constraints) are not made here yet.
"""

from __future__ import annotations

import argparse

from nxport.core.errors import ConfigError

TARGET_HELP = ("NPU profile (rknn, tidl, qnn, ryzen-ai, intel-npu, hailo8, all; repeatable): opset within its "
               "window, preflight verdicts in the report")


def add_target_option(parser: argparse.ArgumentParser) -> None:
    """`--target`, the same on every `nxport export` task."""
    parser.add_argument("--target", action="append", metavar="NAME", help=TARGET_HELP)


def opset_for_targets(targets, requested: int) -> int:
    """`requested` when every target's window takes it, else the highest opset below it that all take."""
    if not targets:
        return requested
    from nxport.conventions.targets import load_profile, resolve_targets

    low, high = 0, requested
    for name in resolve_targets(targets):
        window = load_profile(name).opset
        low = max(low, window.get("min") or 0)
        high = min(high, window.get("max") or high)
    if low > high:
        raise ConfigError(f"no opset <= {requested} fits every target in {list(targets)} (needs {low}..{high})",
                          fix="export once per target, or raise --opset")
    return high


def preflight_record(model, targets) -> dict:
    """The preflight verdict per target, for the export report (findings included: they cite sources)."""
    from nxport.conventions.targets.preflight import preflight

    verdicts = preflight(model, list(targets))
    return {"targets": {v.target: {"verdict": v.verdict.value, "headline": v.headline(),
                                   "blocking_rules": v.blocking_rules, "host_partitions": v.host_partitions,
                                   "unknown_ops": v.unknown_ops, "crop": v.crop.to_dict() if v.crop else None,
                                   "findings": [f.to_dict() for f in v.findings]} for v in verdicts},
            "all_compile": all(v.compiles for v in verdicts)}
