"""The calibration report: typed sections with to_dict, JSON beside the INT8 artifact, a short summary.

Every field is read from the chosen `Quantized` result and the measurements made on it; nothing is
read back from the engine. `CalibrationReport.to_dict()` is the JSON schema (keys sorted on write).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from nxport.calibration.quantized import Quantized
from nxport.core.atomic import ArtifactPaths

RUNTIMES_NOTE = ("Every INT8 model is measured twice: as onnxruntime's CPU kernels run it (\"ort_cpu\", graph "
                 "optimizations on: integer kernels, which on x86 AVX2 without VNNI may saturate int16 in u8s8 "
                 "products) and as exact QDQ arithmetic (\"simulated\", optimizations off: what an NPU with int32 "
                 "accumulation computes). The target metric is the worse of the two.")


def int8_paths(directory: Path, name: str) -> ArtifactPaths:
    """OUT/<name>.int8.onnx and OUT/<name>.int8.report.json."""
    return ArtifactPaths(Path(directory), f"{name}.int8")


def headline(evaluation: dict, metric_name: str) -> dict:
    """The numbers an acceptance check reads: the target metric is the worse of the two runtimes."""
    worst = min(r[metric_name] for r in evaluation.values())
    out = {metric_name: worst}
    extra = "cosine_min" if metric_name == "cosine_mean" else "top5_overlap"
    out[extra] = min(r[extra] for r in evaluation.values())
    return out


def to_json(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str)


@dataclass(frozen=True)
class AccuracyGoal:
    """--min-agreement: the acceptance test the INT8 model must pass (None: measure only)."""

    min_agreement: float | None
    on: str  # what it is measured on, in words
    met: bool | None

    def to_dict(self) -> dict:
        return {"min_agreement": self.min_agreement, "min_agreement_met": self.met, "min_agreement_on": self.on}


@dataclass(frozen=True)
class ScoreEvaluation:
    """Classifiers and embeddings: agreement with FP32 on both runtimes, layer SQNR, latency, naive."""

    metric: str
    headline: dict  # metric (worse runtime) and top-5 overlap or minimum cosine
    by_margin: list | None  # classifiers: per FP32-margin band, the worse runtime
    images: dict
    samples: int
    by_runtime: dict
    speed: dict
    layers_hurting_most: list
    per_layer_sqnr: list
    naive: dict | None

    def to_dict(self) -> dict:
        data = {**self.headline, "by_margin": self.by_margin, "size_ratio": self.speed["size_ratio"],
                "latency_ratio": self.speed["latency_ratio"], "size": self.speed,
                "layers_hurting_most": self.layers_hurting_most, "per_layer_sqnr": self.per_layer_sqnr,
                "evaluation": {"images": self.images, "samples": self.samples, "int8": self.by_runtime,
                               "runtimes": RUNTIMES_NOTE}}
        if self.naive is not None:
            data["naive"] = self.naive
        return data

    def summary_lines(self, report: "CalibrationReport", where: str) -> list[str]:
        q, recipe = report.quantized, report.result.recipe.to_dict()
        naive = (self.naive or {}).get(self.metric)
        float_nodes = report.result.float_nodes
        return [
            f"int8       {q['compute_nodes_int8']}/{q['compute_nodes']} Conv/Gemm/MatMul with 8-bit weights "
            f"({q.get('compute_nodes_int8_input', q['compute_nodes_int8'])} with 8-bit inputs), "
            f"{q['weight_bytes_float']:,} weight bytes left float -> {where} "
            f"({self.speed['int8_bytes'] / 1e6:.1f} MB, size ratio {self.speed['size_ratio']:.3f})",
            f"recipe     {recipe['name']} ({recipe['method']}, per-channel={recipe['per_channel']},"
            f" act {recipe['activation_type']}, weights {recipe['weight_type']} stored "
            f"{recipe['weight_storage']}, rounding {recipe['weight_rounding']}, "
            f"bias correction {recipe['bias_correction']})",
            f"float      {len(float_nodes)} node(s) kept in float: " + ", ".join(sorted(float_nodes)[:4])
            + (" ..." if len(float_nodes) > 4 else "")
            + (f"; {len(recipe['float_activations'])} activation tensor(s) unrounded, weights 8-bit"
               if recipe["float_activations"] else ""),
            f"accuracy   {self.metric} {self.headline[self.metric]:.4f} on {self.images['source']} "
            f"({self.samples} samples)" + (f"; naive recipe {naive:.4f}" if naive is not None else ""),
            *_margin_lines(self.by_margin),
            f"speed      latency ratio int8/fp32 {self.speed['latency_ratio']:.2f} (onnxruntime CPU, 1 thread)",
        ]


@dataclass(frozen=True)
class BoxEvaluation:
    """Detectors: INT8 boxes matched to FP32 boxes, per score threshold (calibration.agreement.BoxMatch)."""

    metric: str
    by_threshold: list  # BoxTally.to_dict() rows
    images: dict
    size: dict

    @property
    def headline(self) -> dict:
        row = self.by_threshold[-1]  # Ultralytics' default threshold
        return {self.metric: row["recall"], "box_precision": row["precision"], "box_mean_iou": row["mean_iou"]}

    def to_dict(self) -> dict:
        return {**self.headline, "fp32_vs_int8": self.by_threshold, "size": self.size,
                "size_ratio": self.size["size_ratio"], "evaluation": {"images": self.images}}

    def summary_lines(self, report: "CalibrationReport", where: str) -> list[str]:
        lines = [f"int8       {where}  ({self.size['int8_bytes'] / 1e6:.1f} MB vs FP32 "
                 f"{self.size['fp32_bytes'] / 1e6:.1f} MB; {report.result.scope})"]
        for ev in self.by_threshold:
            lines.append(f"boxes      {ev['images']} photos at score > {ev['threshold']}: recall {ev['recall']}, "
                         f"precision {ev['precision']}, mean IoU {ev['mean_iou']} ({ev['matched']} of "
                         f"{ev['fp32_boxes']} FP32 boxes matched)")
        return lines


@dataclass(frozen=True)
class CalibrationReport:
    artifact: str
    source: str
    source_sha256: str
    kind: str
    result: Quantized  # the chosen model: recipe, float nodes, input grid, rounding and bias records
    evaluation: ScoreEvaluation | BoxEvaluation
    goal: AccuracyGoal
    quantized: dict  # calibration.inventory: what is 8-bit, what stays float
    calibration: dict  # the calibration set's summary and sha256
    conformance: dict
    metadata_key: str
    auto: dict | None = None  # the automatic search's trials and reasons
    npu_preflight: dict | None = None  # --target: opset window and preflight verdicts of the INT8 model
    timings_s: dict = field(default_factory=dict)
    next_steps: tuple[str, ...] = ()
    written: bool = True

    @property
    def metric(self) -> str:
        return self.evaluation.metric

    @property
    def metric_value(self) -> float:
        return self.evaluation.headline[self.metric]

    def to_dict(self) -> dict:
        result = self.result
        return {
            "artifact": self.artifact, "source": self.source, "source_sha256": self.source_sha256,
            "sha256": result.sha256, "kind": self.kind, "metric": self.metric, **self.goal.to_dict(),
            **self.evaluation.to_dict(), "quantized": self.quantized, "recipe": result.recipe.to_dict(),
            "scope": result.scope, "float_nodes": list(result.float_nodes),
            "float_reasons": (self.auto or {}).get("float_reasons", {}),
            "bias_correction": result.bias_correction, "weight_rounding": result.weight_rounding,
            "input_grid": result.input_grid, "calibration": self.calibration, "conformance": self.conformance,
            "auto": self.auto, "metadata_key": self.metadata_key, "npu_preflight": self.npu_preflight,
            "timings_s": self.timings_s, "next_steps": list(self.next_steps), "written": self.written,
        }

    def summary(self, paths: ArtifactPaths) -> str:
        lines = [*self.evaluation.summary_lines(self, self._where(paths.onnx)),
                 f"checks     {self.conformance['verdict']}"]
        if self.npu_preflight is not None:
            lines += [f"npu        {name}: {t['headline']}" for name, t in self.npu_preflight["targets"].items()]
        if self.goal.min_agreement is not None:
            lines.append(f"goal       {self.goal.on} >= {self.goal.min_agreement}: "
                         f"{'MET' if self.goal.met else 'MISSED'}")
        lines.append(f"report     {self._where(paths.report)}")
        lines += [f"next       {step}" for step in self.next_steps]
        return "\n".join(lines)

    def _where(self, path: Path) -> str:
        return str(path) if self.written else "not written (--min-agreement missed; --keep-on-miss keeps it)"


def _margin_lines(by_margin: list | None) -> list[str]:
    if not by_margin:
        return []
    cells = [f">= {b['min_margin']:.2f}: {b['top1_agreement']:.3f} [{b['ci95'][0]:.2f}, {b['ci95'][1]:.2f}] "
             f"({b['images']})" for b in by_margin]
    return ["by margin  top-1 agreement by FP32 margin, worse runtime, 95% CI (images): " + "; ".join(cells)]
