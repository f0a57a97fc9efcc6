"""The calibration report: JSON beside the INT8 artifact, and the short human summary."""

from __future__ import annotations

import json
from pathlib import Path

from nxport.core.atomic import ArtifactPaths


def int8_paths(directory: Path, name: str) -> ArtifactPaths:
    """OUT/<name>.int8.onnx and OUT/<name>.int8.report.json."""
    return ArtifactPaths(Path(directory), f"{name}.int8")


def headline(evaluation: dict, metric_name: str) -> dict:
    """The numbers an acceptance check reads: the target metric is the worse of the two runtimes."""
    by_runtime = evaluation
    worst = min(r[metric_name] for r in by_runtime.values())
    out = {metric_name: worst}
    extra = "cosine_min" if metric_name == "cosine_mean" else "top5_overlap"
    out[extra] = min(r[extra] for r in by_runtime.values())
    return out


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str)


def _margin_lines(report: dict) -> list[str]:
    if not report.get("by_margin"):
        return []
    cells = [f">= {b['min_margin']:.2f}: {b['top1_agreement']:.3f} [{b['ci95'][0]:.2f}, {b['ci95'][1]:.2f}] "
             f"({b['images']})" for b in report["by_margin"]]
    return ["by margin  top-1 agreement by FP32 margin, worse runtime, 95% CI (images): " + "; ".join(cells)]


def _where(report: dict, path: Path) -> str:
    return str(path) if report.get("written", True) else "not written (target missed; --keep-on-miss keeps it)"


def format_summary(report: dict, paths: ArtifactPaths) -> str:
    metric = report["metric"]
    ours, naive = report[metric], report.get("naive", {}).get(metric)
    q = report["quantized"]
    lines = [
        f"int8       {q['compute_nodes_int8']}/{q['compute_nodes']} Conv/Gemm/MatMul with 8-bit weights "
        f"({q.get('compute_nodes_int8_input', q['compute_nodes_int8'])} with 8-bit inputs), "
        f"{q['weight_bytes_float']:,} weight bytes left float -> {_where(report, paths.onnx)} "
        f"({report['size']['int8_bytes'] / 1e6:.1f} MB, size ratio {report['size_ratio']:.3f})",
        f"recipe     {report['recipe']['name']} ({report['recipe']['method']}, per-channel={report['recipe']['per_channel']},"
        f" act {report['recipe']['activation_type']}, weights {report['recipe']['weight_type']} stored "
        f"{report['recipe']['weight_storage']}, rounding {report['recipe'].get('weight_rounding', 'nearest')}, "
        f"bias correction {report['recipe']['bias_correction']})",
        f"float      {len(report['float_nodes'])} node(s) kept in float: "
        + ", ".join(sorted(report['float_nodes'])[:4]) + (" ..." if len(report['float_nodes']) > 4 else "")
        + (f"; {len(report['recipe']['float_activations'])} activation tensor(s) unrounded, weights 8-bit"
           if report["recipe"].get("float_activations") else ""),
        f"accuracy   {metric} {ours:.4f} on {report['evaluation']['images']['source']} "
        f"({report['evaluation']['samples']} samples)" + (f"; naive recipe {naive:.4f}" if naive is not None else ""),
        *_margin_lines(report),
        f"speed      latency ratio int8/fp32 {report['latency_ratio']:.2f} (onnxruntime CPU, 1 thread)",
        f"checks     {report['conformance']['verdict']}",
    ]
    if report["target"] is not None:
        lines.append(f"target     {report.get('target_on', metric)} >= {report['target']}: "
                     f"{'MET' if report['target_met'] else 'MISSED'}")
    lines.append(f"report     {_where(report, paths.report)}")
    lines += [f"next       {step}" for step in report["next_steps"]]
    return "\n".join(lines)
