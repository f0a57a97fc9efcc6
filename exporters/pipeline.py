"""One export, every task: options -> load -> build (export, simplify, verify) -> stamp -> check ->
NPU preflight -> report -> finish (every file of the artifact written together, or none).

A task (classification, embedding, clip, detection) is an `ExportTask`: it names its files, loads its
model and builds its graph(s) with their parity; everything else is done here, the same way for all:
`--opset` validated and clamped into the `--target` windows, `--overwrite` checked before any work,
progress on every stage (report.StageTimer), the checker on every graph, the preflight verdicts in
the report, and one all-or-nothing write (core.atomic.write_together).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nxport.conventions.contract import stamp_contract
from nxport.conventions.normalization import Normalization
from nxport.core.atomic import ArtifactPaths, PendingFile, prepare_output_dir, refuse_existing, write_together
from nxport.exporters.artifact import ExportResult, check_conformance
from nxport.exporters.config import DEFAULT_OPSET, validate_opset
from nxport.exporters.npu_target import opset_for_targets, preflight_record
from nxport.exporters.report import ExportReport, StageTimer, build_report


@dataclass(frozen=True)
class ExportOptions:
    """What every task takes the same way."""

    output_dir: Path
    name: str  # base name of every file the artifact writes
    overwrite: bool = False
    opset: int = DEFAULT_OPSET
    targets: tuple[str, ...] = ()  # NPU profiles (conventions/targets)

    @classmethod
    def of(cls, config) -> ExportOptions:
        """From any task config: they all carry these fields under these names."""
        return cls(Path(config.output_dir), config.artifact_name, config.overwrite, config.opset,
                   tuple(config.targets))


@dataclass
class ExportContext:
    """What a task's stages see."""

    opset: int  # --opset, clamped into every target's window
    paths: dict[str, Path]  # role -> final path (the task's own files)
    report_path: Path
    timer: StageTimer


@dataclass
class Graph:
    """One ONNX graph of the artifact: stamped, checked, preflighted and written to paths[role]."""

    role: str
    model: Any  # onnx.ModelProto
    provenance: dict  # stamped into metadata_props; its "task" names the graph in the report
    normalization: Normalization | None  # doc_string means/vars (rule C2); None leaves doc_string as built
    evidence: Any = None  # the export's own onnxruntime run (verification.RunEvidence), reused by the checker


@dataclass
class Built:
    """What a task's build stage hands back."""

    graphs: list[Graph]
    next_steps: list[str]
    side_files: list[PendingFile] = field(default_factory=list)  # written with the graphs, not checked
    details: dict = field(default_factory=dict)  # several graphs: what the report says about them together
    parts: dict[str, Any] = field(default_factory=dict)  # role -> graph preflighted with it (a split's network)


@dataclass
class Exported:
    """Every file written, and the report that describes them."""

    paths: dict[str, Path]
    report_path: Path
    report: ExportReport | dict

    def single(self, role: str = "onnx") -> ExportResult:
        return ExportResult(self.paths[role], self.report_path, self.report)


class ExportTask(ABC):
    """What differs between tasks; run_export does the rest."""

    def __init__(self, config):
        self.config, self.options = config, ExportOptions.of(config)

    def outputs(self, directory: Path) -> dict[str, Path]:
        """role -> path of every file besides the report; may refuse a combination before any work.
        One graph, `<name>.onnx`, unless the task writes more."""
        return {"onnx": ArtifactPaths(directory, self.config.artifact_name).onnx}

    @abstractmethod
    def load(self, ctx: ExportContext) -> Any:
        """The model, its preprocessing, labels and parity inputs (runs under the `load` stage)."""

    @abstractmethod
    def build(self, ctx: ExportContext, loaded: Any) -> Built:
        """The graph(s), verified against their source (export, simplify, parity stages)."""


def combined_report(reports: dict[str, ExportReport], built: Built) -> ExportReport | dict:
    """The one report written beside the artifact. One graph: its own. Several (CLIP): each graph's
    description under `artifacts`, and the timings, next steps and the task's details once."""
    first = next(iter(reports.values()))
    if len(reports) == 1:
        return first
    per_graph = {role: {k: v for k, v in report.__dict__.items() if k not in ("timings_s", "next_steps")}
                 for role, report in reports.items()}
    return {"artifacts": per_graph, **built.details, "timings_s": first.timings_s, "next_steps": first.next_steps}


def run_export(task: ExportTask) -> Exported:
    options = task.options
    opset = opset_for_targets(options.targets, validate_opset(options.opset))  # a bad target fails here
    directory = prepare_output_dir(options.output_dir)
    paths = task.outputs(directory)
    report_path = directory / f"{options.name}.report.json"
    refuse_existing([*paths.values(), report_path], options.overwrite)  # before any expensive work
    ctx = ExportContext(opset, paths, report_path, StageTimer())
    with ctx.timer("load"):
        loaded = task.load(ctx)
    built = task.build(ctx, loaded)
    for graph in built.graphs:
        stamp_contract(graph.model, graph.normalization, graph.provenance)
    data = {graph.role: graph.model.SerializeToString() for graph in built.graphs}
    reports = _describe(built, data, ctx, options.targets)
    report = combined_report(reports, built)
    files = [bytes_file(paths[role], blob) for role, blob in data.items()]
    files += built.side_files + [PendingFile(report_path, _report_writer(report))]
    with ctx.timer("write", f"{len(files)} files"):
        write_together(files)
    return Exported(paths, report_path, report)


def _describe(built: Built, data: dict[str, bytes], ctx: ExportContext, targets) -> dict[str, ExportReport]:
    """check -> preflight -> one ExportReport per graph (the same timings and next steps in each)."""
    timer, graphs = ctx.timer, built.graphs
    with timer("check", ", ".join(data) if len(data) > 1 else ""):
        checks = {graph.role: check_conformance(data[graph.role], graph.evidence) for graph in graphs}
    verdicts, next_steps = {}, list(built.next_steps)
    if targets:  # before anything is written; the verdicts travel in the report
        with timer("npu_preflight"):
            verdicts = {graph.role: preflight_record(graph.model, targets) for graph in graphs}
            if built.parts:  # what an NPU flow compiles instead of the whole artifact
                verdicts[graphs[0].role]["parts"] = {role: preflight_record(model, targets)
                                                     for role, model in built.parts.items()}
        flags = " --target ".join(targets)
        next_steps = [f"python -m nxport.conventions {ctx.paths[g.role]} --target {flags}   # NPU verdicts"
                      for g in graphs] + next_steps
    timings = dict(timer.seconds)
    reports = {}
    for graph in graphs:
        provenance = {**graph.provenance, **({"npu_preflight": verdicts[graph.role]} if verdicts else {})}
        reports[graph.role] = build_report(graph.model, data[graph.role], ctx.paths[graph.role],
                                           graph.provenance["task"], provenance, checks[graph.role], timings,
                                           next_steps)
    return reports


def bytes_file(path: Path, data: bytes) -> PendingFile:
    return PendingFile(path, lambda temporary: temporary.write_bytes(data))


def _report_writer(report: ExportReport | dict) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        text = report.to_json() if isinstance(report, ExportReport) else json.dumps(report, indent=2, sort_keys=True)
        path.write_text(text + "\n", encoding="utf-8")

    return write
