"""Export pipeline wall time per stage: nxport (timings from its own report) vs a bare
`torch.onnx.export` + `onnxsim.simplify`, timed with the same StageTimer on the same model source."""

from __future__ import annotations

import io
import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.models import INPUT_SHAPE, BenchModel

OURS_STAGES = ("load", "export", "simplify", "parity", "check")
BASELINE_STAGES = ("load", "export", "simplify")  # the bare path has no parity or conformance check
BASELINE_OPSET = 17
BASELINE_INPUT = "input"


@dataclass
class Baseline:
    module: "torch.nn.Module"  # noqa: F821  softmax head on top, exactly what ours exports
    model_bytes: bytes


def photo_feeds(input_name: str = BASELINE_INPUT) -> list[dict]:
    """Real photos, resized to the input and ImageNet-normalized (for BatchNorm statistics and as input)."""
    from nxport.conventions.normalization import Normalization
    from nxport.exporters.config import IMAGENET_MEAN, IMAGENET_STD
    from nxport.exporters.parity import nx_feeds
    from nxport.core.images import sample_photos

    norm = Normalization.from_unit_scale(IMAGENET_MEAN, IMAGENET_STD)
    return nx_feeds(sample_photos(), input_name, INPUT_SHAPE, norm)


def export_ours(bench: BenchModel, output_dir: Path) -> tuple[dict, Path]:
    from nxport.exporters import ClassifierConfig, export_classifier

    config = ClassifierConfig(model=bench.name, weights=bench.weights_path(), random_init=not bench.real_weights,
                              output_dir=output_dir, name=bench.name, overwrite=True)
    result = export_classifier(config)
    return {stage: float(result.report.timings_s.get(stage, 0.0)) for stage in OURS_STAGES}, result.onnx_path


def export_baseline(bench: BenchModel, feeds: list[dict]) -> tuple[dict, Baseline]:
    """What a user writes by hand. BatchNorm re-estimation of random-init models (as nxport does, so both
    graphs see the same numbers) happens outside the timed stages."""
    import onnx
    import onnxsim
    import torch

    from nxport.exporters.config import Activation
    from nxport.exporters.heads import ProbabilityHead
    from nxport.exporters.random_init import recalibrate_batchnorm
    from nxport.exporters.report import StageTimer
    from nxport.exporters.timm_source import load_timm_model

    timer = StageTimer()
    with timer("load"):
        loaded = load_timm_model(bench.name, weights=bench.weights_path(), random_init=not bench.real_weights)
        module = ProbabilityHead(loaded.module, Activation.SOFTMAX).eval()
    if not bench.real_weights:
        recalibrate_batchnorm(module, feeds, BASELINE_INPUT)
    with timer("export"):
        buffer = io.BytesIO()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.zeros(INPUT_SHAPE),), buffer, dynamo=False,
                              opset_version=BASELINE_OPSET, input_names=[BASELINE_INPUT], output_names=["output"])
        model = onnx.load_from_string(buffer.getvalue())
    with timer("simplify"):
        model, ok = onnxsim.simplify(model)
    if not ok:
        raise RuntimeError(f"onnxsim could not validate the simplified {bench.name} graph (baseline)")
    return dict(timer.seconds), Baseline(module, model.SerializeToString())


def benchmark_export(bench: BenchModel, workdir: Path, repeats: int, feeds: list[dict]):
    """`repeats` alternating rounds (ours first, then baseline first, ...); median seconds per stage."""
    ours_runs, base_runs = [], []
    for i in range(repeats):
        steps = [lambda: ours_runs.append(export_ours(bench, workdir)),
                 lambda: base_runs.append(export_baseline(bench, feeds))]
        for step in (steps if i % 2 == 0 else steps[::-1]):
            step()
    ours = median_stages([t for t, _ in ours_runs], OURS_STAGES)
    base = median_stages([t for t, _ in base_runs], BASELINE_STAGES)
    result = {
        "ours_s": ours, "baseline_s": base, "repeats": repeats,
        "ours_total_s": median_total([t for t, _ in ours_runs]),
        "baseline_total_s": median_total([t for t, _ in base_runs]),
        "baseline": f"torch.onnx.export(dynamo=False, opset {BASELINE_OPSET}) + onnxsim.simplify, "
                    "same timm loader and softmax head, no parity, no conformance check",
    }
    shared = sum(ours[s] for s in BASELINE_STAGES)
    result["ours_shared_stages_s"] = round(shared, 3)
    result["shared_stages_ratio"] = round(shared / result["baseline_total_s"], 3)
    return result, ours_runs[-1][1], base_runs[-1][1]


def median_stages(runs: list[dict], stages) -> dict:
    return {s: round(statistics.median(r.get(s, 0.0) for r in runs), 3) for s in stages}


def median_total(runs: list[dict]) -> float:
    return round(statistics.median(sum(r.values()) for r in runs), 3)


def first_input(feeds: list[dict], input_name: str = BASELINE_INPUT) -> np.ndarray:
    return np.ascontiguousarray(feeds[0][input_name])
