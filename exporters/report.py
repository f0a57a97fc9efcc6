"""The export report: JSON beside the artifact, and the short human summary printed at the end."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nxport.core.atomic import ArtifactPaths  # noqa: F401  (re-exported: exporters name their outputs with it)


# What each stage is called on the terminal; the report keeps the short keys.
STAGE_LABELS = {"load": "loading the model and its weights", "reparameterize": "reparameterizing (timm)",
                "parity": "running PyTorch and onnxruntime on the parity inputs", "export": "torch.onnx.export",
                "simplify": "onnxsim", "check": "checking the Nx conventions", "npu_preflight": "NPU preflight",
                "tail": "building the detection tail", "split": "splitting network and post-processing",
                "tokenizer": "writing the tokenizer", "zero_shot": "embedding the zero-shot prompts",
                "write": "writing the artifact (all files or none)"}


class StageTimer:
    """Wall time per pipeline stage, for the report (never for pass/fail decisions). Every stage is also
    announced on stderr (core.console.stage): an export runs minutes, and silence looks like a hang."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str, detail: str = ""):
        from nxport.core.console import stage as announce

        label = STAGE_LABELS.get(stage, stage) + (f" ({detail})" if detail else "")
        start = time.perf_counter()
        try:
            with announce(label):
                yield
        finally:
            self.seconds[stage] = round(self.seconds.get(stage, 0.0) + time.perf_counter() - start, 3)


@dataclass
class ExportReport:
    artifact: str  # file name only: reports travel, absolute paths would not
    task: str
    sha256: str
    size_bytes: int
    opset: int
    ir_version: int
    inputs: list[dict]
    outputs: list[dict]
    provenance: dict
    conformance: dict
    timings_s: dict
    next_steps: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def describe_io(values) -> list[dict]:
    from onnx import helper

    described = []
    for value in values:
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor.shape.dim]
        name = value.name if len(value.name) <= 120 else value.name[:117] + "..."
        described.append({"name": name, "dtype": helper.tensor_dtype_to_np_dtype(tensor.elem_type).name,
                          "shape": dims})
    return described


def build_report(model, data: bytes, path: Path, task: str, provenance: dict, check_report,
                 timings: dict, next_steps: list[str]) -> ExportReport:
    from nxport.exporters.onnx_export import default_opset

    return ExportReport(
        artifact=path.name, task=task, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
        opset=default_opset(model), ir_version=model.ir_version,
        inputs=describe_io(model.graph.input), outputs=describe_io(model.graph.output),
        provenance=provenance, conformance=check_report.to_dict(), timings_s=timings, next_steps=next_steps,
    )


def format_summary(report: ExportReport, onnx_path: Path, report_path: Path) -> str:
    checks = report.conformance
    findings = checks.get("findings", [])
    must = sum(1 for f in findings if f["level"] == "MUST")
    should = sum(1 for f in findings if f["level"] == "SHOULD")
    lines = [
        f"artifact   {onnx_path}  ({report.size_bytes / 1e6:.1f} MB, opset {report.opset}, IR {report.ir_version})",
        f"input      {report.inputs[0]['name']} {report.inputs[0]['dtype']} {report.inputs[0]['shape']}"
        + _size_source(report.provenance),
        f"output     {report.outputs[0]['name']} {report.outputs[0]['shape']}",
        f"checks     {len(checks.get('rules_checked', []))} rules checked, {must} MUST and {should} SHOULD "
        f"findings -> {'CONFORMANT' if checks.get('conformant') else 'NOT CONFORMANT'}",
    ]
    parity = report.provenance.get("parity", {})
    if parity:
        lines.append(_parity_line(parity))
    split = report.provenance.get("split")
    if split:
        lines.append(f"split      {split['network']} (up to {split['cut']}) + {split['post']}: "
                     f"{split['composition']} on {split['runs_compared']} runs")
    lines += npu_lines(report.provenance.get("npu_preflight"))
    lines.append("time       " + ", ".join(f"{k} {v:.1f}s" for k, v in report.timings_s.items()))
    lines.append(f"report     {report_path}")
    lines += [f"next       {step}" for step in report.next_steps]
    return "\n".join(lines)


def npu_lines(record: dict | None, prefix: str = "npu        ") -> list[str]:
    """One line per --target: its preflight headline (the full findings are in the report), then the
    same for each part preflighted with the artifact (a split detector's network)."""
    if not record:
        return []
    lines = [prefix + verdict["headline"] for verdict in record["targets"].values()]  # it names its target
    for part, part_record in record.get("parts", {}).items():
        lines += npu_lines(part_record, f"{prefix}{part}: ")
    return lines


def _size_source(provenance: dict) -> str:
    """Say where an input size nobody typed came from (a dynamic export's metadata, a model config)."""
    source = provenance.get("preprocessing", {}).get("input_size_source")
    return f"  (H x W from {source})" if source not in (None, "static input", "--input-size") else ""


def _parity_line(parity: dict) -> str:
    if "min_iou" in parity:  # detection: rows vs an independent decode of the raw head
        pairs = len(parity["rows"])
        return (f"parity     {parity['images']} real photos x thresholds {parity['thresholds']} vs "
                f"{parity['reference']}: same rows in {pairs}/{pairs}, min IoU {parity['min_iou']:.4f}, "
                f"max |dscore| {parity['max_score_diff']:.1e}")
    if "top1_agreement" in parity:
        return (f"parity     {parity['images']} real photos vs PyTorch: max |dp| {parity['max_abs_diff']:.1e}, "
                f"top-1 agreement {parity['top1_agreement']:.0%}")
    return (f"parity     {parity['images']} real photos vs PyTorch: min cosine {parity['min_cosine']:.6f}, "
            f"max |dx| {parity['max_abs_diff']:.1e}")
