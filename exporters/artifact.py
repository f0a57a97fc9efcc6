"""What an export hands back, and the conformance gate every graph passes before it is written
(exporters.pipeline runs both; calibration reuses the gate)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nxport.core.errors import ConformanceError
from nxport.exporters.report import ExportReport


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
