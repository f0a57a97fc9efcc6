"""The steps every artifact shares after torch export: stamp, check, write all-or-nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nxport.exporters.report import ArtifactPaths, ExportReport, build_report
from nxport.core.atomic import atomic_path
from nxport.core.errors import ConformanceError


@dataclass
class ExportResult:
    onnx_path: Path
    report_path: Path
    report: ExportReport


def check_conformance(data: bytes, evidence=None):
    """Run the full checker; any MUST finding stops the export. evidence: the export's own onnxruntime
    run of this graph (exporters.verification), which the runtime stage checks instead of re-running."""
    from nxport import conventions

    result = conventions.check(data, runtime=True, evidence=evidence)
    if not result.conformant:
        must = [f for f in result.findings if f.level.value == "MUST"]
        listed = "; ".join(f"{f.rule_id}: {f.message}" for f in must[:5])
        raise ConformanceError(f"The exported artifact breaks {len(must)} MUST rule(s): {listed}",
                               findings=must, fix="report this as a bug in nxport with the model name")
    return result


def write_artifact(paths: ArtifactPaths, data: bytes, report: ExportReport) -> ExportResult:
    """Both files are written to temporaries first; neither appears unless both could be written."""
    with atomic_path(paths.onnx) as onnx_tmp, atomic_path(paths.report) as report_tmp:
        onnx_tmp.write_bytes(data)
        report_tmp.write_text(report.to_json() + "\n", encoding="utf-8")
    return ExportResult(paths.onnx, paths.report, report)


def finish(model, paths: ArtifactPaths, task: str, provenance: dict, timer, next_steps: list[str],
           evidence=None, targets: tuple[str, ...] = ()) -> ExportResult:
    data = model.SerializeToString()
    with timer("check"):
        check_report = check_conformance(data, evidence)
    if targets:  # NPU preflight before writing; the verdicts travel in the report
        from nxport.exporters.npu_target import preflight_record

        with timer("npu_preflight"):
            provenance["npu_preflight"] = preflight_record(model, targets)
        next_steps = [f"python -m nxport.conventions {paths.onnx} --target {' --target '.join(targets)}   # NPU verdicts"] + next_steps
    report = build_report(model, data, paths.onnx, task, provenance, check_report, timer.seconds, next_steps)
    return write_artifact(paths, data, report)
