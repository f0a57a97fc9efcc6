"""`calibrate()`: FP32 artifact + a folder of photos -> `<name>.int8.onnx` and its report."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nxport.calibration import evaluate
from nxport.calibration.artifact import read_artifact
from nxport.calibration.augment import Augmentation
from nxport.calibration.engine import Engine
from nxport.calibration.errors import InvalidOptionError, NothingToQuantizeError
from nxport.calibration.inventory import COMPUTE_OPS, inventory
from nxport.calibration.metrics import MARGIN_BANDS
from nxport.calibration.quantize import INT8_METADATA_KEY
from nxport.calibration.reader import (MIN_CALIBRATION_IMAGES, MIN_EVALUATION_IMAGES_FOR_TARGET,
                               RECOMMENDED_CALIBRATION_IMAGES, ImageSet, nx_tensors)
from nxport.calibration.recipes import DEFAULT, NAIVE, Recipe, WeightRounding
from nxport.calibration.report import format_summary, headline, int8_paths, to_json
from nxport.calibration.sensitivity import compute_sqnr, rank_layers, tensor_sqnr
from nxport.core.atomic import atomic_path, prepare_output_dir, refuse_existing
from nxport.core.console import info

DEFAULT_TARGET = 0.99  # top-1 agreement (classifiers) or mean cosine (embeddings)
TARGET_MARGIN = 0.1  # classifiers: the target applies to images whose FP32 top-1 margin is at least this
AUTO = "auto"


@dataclass
class CalibrationResult:
    onnx_path: Path
    report_path: Path
    report: dict

    @property
    def metric(self) -> float:
        return self.report[self.report["metric"]]

    @property
    def target_met(self) -> bool | None:
        return self.report["target_met"]

    @property
    def written(self) -> bool:
        """False when the target was missed and keep_on_miss was not asked: no file exists."""
        return self.report["written"]

    def summary(self) -> str:
        return format_summary(self.report, int8_paths(self.onnx_path.parent, self.onnx_path.name[:-len(".int8.onnx")]))


def _check_options(recipe, target) -> float | None:
    if not (recipe == AUTO or isinstance(recipe, Recipe)):
        raise InvalidOptionError(f"recipe {recipe!r} is neither a Recipe nor 'auto'",
                                 fix="pass calibration.Recipe(...), calibration.NAIVE or 'auto'")
    if target is not None and not target > 0:
        raise InvalidOptionError(f"target {target} must be > 0", fix="e.g. --target 0.99")
    return DEFAULT_TARGET if (target is None and recipe == AUTO) else target


def _progress(enabled: bool):
    from tqdm import tqdm

    return tqdm(unit="img", desc="calibrating", disable=not enabled, leave=False, dynamic_ncols=True)


def calibrate(model_path, images, *, eval_images=None, output_dir, recipe: Recipe | str = DEFAULT,
              target: float | None = None, overwrite: bool = False, progress: bool = True,
              max_images: int | None = None, max_eval_images: int | None = None, seed: int = 0,
              augmentation: Augmentation = Augmentation(), compare_naive: bool = True,
              name: str | None = None, target_margin: float = TARGET_MARGIN,
              keep_on_miss: bool = False) -> CalibrationResult:
    """Quantize an nxport FP32 artifact to INT8 (QDQ) and measure it against FP32.

    recipe: a Recipe (default: ours), calibration.NAIVE, or "auto" (search until `target`, default
    0.99). target: top-1 agreement (classifiers, on the images whose FP32 top-1 margin is at least
    `target_margin`: near-ties flip under any perturbation) or mean cosine (embeddings) on the evaluation
    images; None with a fixed recipe means "measure only". The result's report says whether it was met;
    a missed target writes nothing unless `keep_on_miss` (result.written says which).
    """
    started = time.perf_counter()
    target = _check_options(recipe, target)
    if target_margin not in MARGIN_BANDS:
        raise InvalidOptionError(f"target margin {target_margin} is not one of the reported bands",
                                 fix=f"pass one of {', '.join(map(str, MARGIN_BANDS))}")
    calib, evalset = _image_sets(images, eval_images, max_images, max_eval_images, seed, augmentation, target)
    artifact, fp32_model = read_artifact(model_path)
    _refuse_nothing_to_quantize(artifact, fp32_model)
    paths = int8_paths(Path(output_dir), name or artifact.name)
    refuse_existing([paths.onnx, paths.report], overwrite)
    calib.check_decodable()
    if evalset is not None:
        evalset.check_decodable()
    prepare_output_dir(paths.directory)
    with tempfile.TemporaryDirectory(prefix="nxport-calib-") as tmp, _progress(progress) as bar:
        engine = Engine(artifact, fp32_model, calib, Path(tmp), bar)
        chosen, data, auto_info = _quantize(engine, recipe, target, target_margin)
        report = _measure(engine, chosen, data, evalset, (target, target_margin), compare_naive, auto_info)
    report["timings_s"] = {"total": round(time.perf_counter() - started, 2)}
    report["next_steps"] = [f"python -m nxport.conventions {paths.onnx}   # re-check any time",
                            "compile/upload the .int8.onnx for the NPU; keep the FP32 artifact as the reference"]
    report["written"] = report["target_met"] is not False or keep_on_miss
    if not report["written"]:  # a model that failed its own acceptance test is not an artifact
        report["next_steps"] = ["nothing was written: pass --keep-on-miss (keep_on_miss=True) to keep the INT8 "
                                "model that missed, --target lower, or --recipe auto to search further"]
        return CalibrationResult(paths.onnx, paths.report, report)
    with atomic_path(paths.onnx) as onnx_tmp, atomic_path(paths.report) as report_tmp:
        onnx_tmp.write_bytes(data)
        report_tmp.write_text(to_json(report) + "\n", encoding="utf-8")
    return CalibrationResult(paths.onnx, paths.report, report)


def _image_sets(images, eval_images, max_images, max_eval_images, seed: int, augmentation: Augmentation,
                target: float | None) -> tuple[ImageSet, ImageSet | None]:
    """List the calibration and evaluation files and refuse sets too small for their use (no decoding yet)."""
    calib = ImageSet.from_folder(images, max_images=max_images, seed=seed, augmentation=augmentation)
    calib.require(MIN_CALIBRATION_IMAGES, "Calibration",
                  "Ranges and GPTQ statistics from fewer photos describe those photos, not the camera's scene.",
                  "add photos like the ones the camera will see (vendor toolchains ask for 100-500)")
    evalset = None
    if eval_images is not None:
        evalset = ImageSet.from_folder(eval_images, max_images=max_eval_images, seed=seed)
    if target is not None:
        measured = evalset or calib
        measured.require(MIN_EVALUATION_IMAGES_FOR_TARGET, f"Claiming a target ({target})",
                         "With fewer, one image moves the agreement by more than 3 points; the claim would rest "
                         "on noise.", f"pass --eval-images with {MIN_EVALUATION_IMAGES_FOR_TARGET}+ photos the "
                         "model did not calibrate on, or --recipe default without --target (measure only)")
    if len(calib.files) < RECOMMENDED_CALIBRATION_IMAGES:
        info(f"calibrating on {len(calib.files)} photos; vendor toolchains ask for 100-500 of the deployment scene")
    return calib, evalset


def _refuse_nothing_to_quantize(artifact, model) -> None:
    if not any(node.op_type in COMPUTE_OPS for node in model.graph.node):
        raise NothingToQuantizeError(artifact.path, sorted({node.op_type for node in model.graph.node}))


def _quantize(engine: Engine, recipe, target, margin: float):
    if recipe != AUTO:
        return recipe, engine.quantize(recipe), None
    from nxport.calibration.auto import auto_calibrate

    if target > 1.0:  # agreement and cosine never exceed 1: no search can meet it
        return DEFAULT, engine.quantize(DEFAULT), {"note": f"target {target} > 1 cannot be met; no search run"}
    result = auto_calibrate(engine, target, margin)
    return result.recipe, result.model, {"trials": [t.to_dict() for t in result.trials],
                                          "float_reasons": result.reasons}


def _conformance(data: bytes) -> dict:
    """The INT8 artifact must pass the checker like the FP32 one; a MUST finding is an error."""
    from nxport import conventions
    from nxport.core.errors import ConformanceError

    # reference=True: the INT8 graph must also run in onnxruntime 1.17, the Nx reference runtime,
    # whose QLinearConv refuses per-channel uint8 weights with unequal zero points.
    report = conventions.check(data, runtime=True, reference=True)
    if not report.conformant:
        must = report.must_findings
        raise ConformanceError("The INT8 artifact breaks " + "; ".join(f"{f.rule_id}: {f.message}" for f in must[:5]),
                               findings=must, fix="check the FP32 artifact with `python -m nxport.conventions` first; "
                               "if it is conformant, report this as a calibration bug")
    return {"verdict": report.verdict(), "conformant": report.conformant,
            "findings": [f.to_dict() for f in report.sorted_findings() if f.level.value != "INFO"]}


def _measure(engine: Engine, recipe: Recipe, data: bytes, evalset, target_and_margin, compare_naive: bool,
             auto_info) -> dict:
    import onnx

    target, target_margin = target_and_margin
    conformance = _conformance(data)
    models = {"int8": data}
    if compare_naive:
        models["naive"] = engine.quantize(NAIVE)
    engine._describe("evaluating")
    artifact = engine.artifact
    tensors = nx_tensors(evalset, artifact) if evalset is not None else iter(engine.tuning_tensors())
    results = evaluate.compare(engine.fp32_session(), models, tensors, artifact.input_name, artifact.is_embedding)
    evaluation = {key: {rt: a.to_dict() for rt, a in by_rt.items()} for key, by_rt in results.items()}
    metric = results["int8"]["ort_cpu"].metric_name
    ours = headline(evaluation["int8"], metric)
    fp32_bytes = engine.fp32_path.read_bytes()
    speed = evaluate.speed_and_size(fp32_bytes, data, artifact.input_name, engine.tuning_tensors()[0])
    int8_model = onnx.load_from_string(data)
    errors, per_layer = _layer_errors(engine, data)
    quantized = inventory(int8_model)
    settings = next(json.loads(e.value) for e in int8_model.metadata_props if e.key == INT8_METADATA_KEY)
    report = {
        "artifact": f"{engine.artifact.name}.int8.onnx", "source": engine.fp32_path.name,
        "source_sha256": hashlib.sha256(fp32_bytes).hexdigest(), "sha256": hashlib.sha256(data).hexdigest(),
        "kind": artifact.kind, "metric": metric, **ours, "target": target,
        "target_met": None if target is None else bool(_target_value(ours[metric], evaluation["int8"], target_margin) >= target),
        "target_on": _target_on(metric, target_margin),
        "size_ratio": speed["size_ratio"], "latency_ratio": speed["latency_ratio"], "size": speed,
        "quantized": quantized, "by_margin": _worst_by_margin(evaluation["int8"]),
        "bias_correction": engine.bias_info if recipe.bias_correction else None,
        "weight_rounding": engine.rounding_info if recipe.weight_rounding is WeightRounding.GPTQ else None,
        "input_grid": engine.input_grid if recipe.align_input_grid else None,
        "recipe": recipe.to_dict(), "float_nodes": settings["float_nodes"],
        "float_reasons": (auto_info or {}).get("float_reasons", {}),
        "layers_hurting_most": [e.to_dict() for e in errors[:10]],
        "per_layer_sqnr": per_layer,
        "evaluation": {"images": _eval_source(evalset, engine), "samples": results["int8"]["ort_cpu"].to_dict()["samples"],
                       "int8": evaluation["int8"], "runtimes": evaluate.__doc__.split("\n\n")[1].replace("\n", " ")},
        "calibration": {**engine.images.summary(), "sha256": engine.calibration_sha256},
        "conformance": conformance, "auto": auto_info, "metadata_key": INT8_METADATA_KEY,
    }
    if compare_naive:
        report["naive"] = {**headline(evaluation["naive"], metric), "recipe": NAIVE.to_dict(),
                           "by_runtime": evaluation["naive"]}
    return report


def _target_on(metric: str, margin: float) -> str:
    if metric != "top1_agreement" or margin == 0:
        return metric
    return f"top-1 agreement on images whose FP32 top-1 margin is >= {margin}"


def _target_value(headline_value: float, evaluation: dict, margin: float) -> float:
    bands = _worst_by_margin(evaluation)
    if bands is None:  # embeddings: mean cosine
        return headline_value
    band = next(b for b in bands if b["min_margin"] == margin)
    return band["top1_agreement"] if band["images"] else float("nan")


def _worst_by_margin(evaluation: dict) -> list[dict] | None:
    """Per FP32-margin band, the runtime with the lower top-1 agreement (classifiers only)."""
    runs = [r["by_margin"] for r in evaluation.values() if "by_margin" in r]
    if not runs:
        return None
    return [min(bands, key=lambda b: (b["top1_agreement"], b["ci95"][0])) for bands in zip(*runs)]


def _eval_source(evalset, engine) -> dict:
    if evalset is None:
        return {"source": "calibration images (no --eval-images given: optimistic)"}
    return {"source": "evaluation images", **evalset.summary(), "sha256": evalset.sha256()}


def _layer_errors(engine: Engine, data: bytes):
    """-> (layers ranked by the SQNR they lose, every compute node's output SQNR)."""
    path = engine.workdir / "final.int8.onnx"
    path.write_bytes(data)
    engine._describe("ranking layers (qdq_loss_debug)")
    sqnr = tensor_sqnr(engine.fp32_path, path, engine.sensitivity_feeds(), engine.workdir)
    return rank_layers(engine.fp32_model, sqnr), compute_sqnr(engine.fp32_model, sqnr, COMPUTE_OPS)
