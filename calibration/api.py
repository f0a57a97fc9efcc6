"""`calibrate()`: FP32 artifact + a folder of photos -> `<name>.int8.onnx` and its report.

One path for every calibratable kind: the engine quantizes the kind's cut (calibration.cut), the
kind's agreement metric (calibration.agreement) judges INT8 against FP32, and the report is built
from the chosen `Quantized` result only (calibration.report).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nxport.calibration import evaluate
from nxport.calibration.agreement import BoxMatch
from nxport.calibration.artifact import read_artifact
from nxport.calibration.augment import Augmentation
from nxport.calibration.engine import Engine
from nxport.calibration.errors import InvalidOptionError, MinAgreementIsNotATargetError, NothingToQuantizeError
from nxport.calibration.inventory import COMPUTE_OPS, inventory
from nxport.calibration.metrics import MARGIN_BANDS
from nxport.calibration.quantize import INT8_METADATA_KEY
from nxport.calibration.quantized import Quantized
from nxport.calibration.reader import (MIN_CALIBRATION_IMAGES, MIN_EVALUATION_IMAGES_FOR_TARGET,
                                       RECOMMENDED_CALIBRATION_IMAGES, ImageSet, nx_tensors)
from nxport.calibration.recipes import DEFAULT, DETECTOR, NAIVE, Recipe
from nxport.calibration.report import (AccuracyGoal, BoxEvaluation, CalibrationReport, ScoreEvaluation, headline,
                                       int8_paths, to_json)
from nxport.calibration.sensitivity import compute_sqnr, rank_layers, tensor_sqnr
from nxport.core.atomic import atomic_path, prepare_output_dir, refuse_existing
from nxport.core.console import info

DEFAULT_MIN_AGREEMENT = 0.99  # top-1 agreement (classifiers) or mean cosine (embeddings)
AGREEMENT_MARGIN = 0.1  # classifiers: the goal applies to images whose FP32 top-1 margin is at least this
AUTO = "auto"


@dataclass(frozen=True)
class CalibrationResult:
    onnx_path: Path
    report_path: Path
    report: CalibrationReport

    @property
    def metric(self) -> float:
        return self.report.metric_value

    @property
    def min_agreement_met(self) -> bool | None:
        return self.report.goal.met

    @property
    def written(self) -> bool:
        """False when --min-agreement was missed and keep_on_miss was not asked: no file exists."""
        return self.report.written

    def summary(self) -> str:
        return self.report.summary(int8_paths(self.onnx_path.parent, self.onnx_path.name[:-len(".int8.onnx")]))


def _check_options(recipe, min_agreement, margin: float, targets) -> None:
    if not (recipe == AUTO or isinstance(recipe, Recipe)):
        raise InvalidOptionError(f"recipe {recipe!r} is neither a Recipe nor 'auto'",
                                 fix="pass calibration.Recipe(...), calibration.NAIVE or 'auto'")
    if min_agreement is not None and not min_agreement > 0:
        raise InvalidOptionError(f"min agreement {min_agreement} must be > 0", fix="e.g. --min-agreement 0.99")
    if margin not in MARGIN_BANDS:
        raise InvalidOptionError(f"agreement margin {margin} is not one of the reported bands",
                                 fix=f"pass one of {', '.join(map(str, MARGIN_BANDS))}")
    for target in targets:
        if isinstance(target, (int, float)) or _is_number(target):
            raise MinAgreementIsNotATargetError(target)
    if targets:
        from nxport.conventions.targets import resolve_targets

        resolve_targets(targets)  # UnknownTargetError names the known profiles, before any work


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _progress(enabled: bool):
    from tqdm import tqdm

    return tqdm(unit="img", desc="calibrating", disable=not enabled, leave=False, dynamic_ncols=True)


def calibrate(model_path, images, *, eval_images=None, output_dir, recipe: Recipe | str = DEFAULT,
              min_agreement: float | None = None, targets: tuple[str, ...] = (), overwrite: bool = False,
              progress: bool = True, max_images: int | None = None, max_eval_images: int | None = None,
              seed: int = 0, augmentation: Augmentation = Augmentation(), compare_naive: bool = True,
              name: str | None = None, agreement_margin: float = AGREEMENT_MARGIN,
              keep_on_miss: bool = False) -> CalibrationResult:
    """Quantize an nxport FP32 artifact to INT8 (QDQ) and measure it against FP32.

    recipe: a Recipe (default: ours), calibration.NAIVE, or "auto" (search until `min_agreement`,
    default 0.99). min_agreement: top-1 agreement (classifiers, on the images whose FP32 top-1 margin
    is at least `agreement_margin`: near-ties flip under any perturbation) or mean cosine (embeddings)
    on the evaluation images; None with a fixed recipe means "measure only". The report says whether
    it was met; a miss writes nothing unless `keep_on_miss` (result.written says which).
    Detectors (bboxes-) take one fixed recipe (recipes.DETECTOR) and are judged box for box.
    targets: NPU profiles (as `nxport export --target`): the INT8 model's opset window and preflight
    verdicts go into the report.
    """
    started = time.perf_counter()
    targets = tuple(targets)
    _check_options(recipe, min_agreement, agreement_margin, targets)
    calib, evalset = _image_sets(images, eval_images, max_images, max_eval_images, seed, augmentation, min_agreement)
    artifact, fp32_model = read_artifact(model_path)
    _refuse_nothing_to_quantize(artifact, fp32_model)
    recipe, goal = _recipe_for_kind(artifact, recipe, min_agreement)
    if goal is not None and min_agreement is None:  # the search's default goal: same refusal, still before any work
        _require_for_goal(calib, evalset, goal)
    min_agreement = goal
    if len(calib.files) < RECOMMENDED_CALIBRATION_IMAGES:  # advice, after every refusal
        info(f"calibrating on {len(calib.files)} photos; vendor toolchains ask for 100-500 of the deployment scene")
    paths = int8_paths(Path(output_dir), name or artifact.name)
    refuse_existing([paths.onnx, paths.report], overwrite)
    calib.check_decodable()
    if evalset is not None:
        evalset.check_decodable()
    prepare_output_dir(paths.directory)
    with tempfile.TemporaryDirectory(prefix="nxport-calib-") as tmp, _progress(progress) as bar:
        engine = Engine(artifact, fp32_model, calib, Path(tmp), bar)
        chosen, auto = _quantize(engine, recipe, min_agreement, agreement_margin)
        report = _measure(engine, chosen, evalset, (min_agreement, agreement_margin), compare_naive, auto, targets)
    report = _finish_report(report, paths, time.perf_counter() - started, keep_on_miss)
    if report.written:
        with atomic_path(paths.onnx) as onnx_tmp, atomic_path(paths.report) as report_tmp:
            onnx_tmp.write_bytes(chosen.model)
            report_tmp.write_text(to_json(report.to_dict()) + "\n", encoding="utf-8")
    return CalibrationResult(paths.onnx, paths.report, report)


def _recipe_for_kind(artifact, recipe, min_agreement) -> tuple[Recipe | str, float | None]:
    """A kind whose metric cannot score candidates (detectors) takes its one fixed recipe."""
    from nxport.calibration.agreement import metric_for

    if metric_for(artifact.contract.kind).searchable:
        return recipe, (DEFAULT_MIN_AGREEMENT if min_agreement is None and recipe == AUTO else min_agreement)
    if recipe not in (AUTO, DEFAULT, DETECTOR):
        raise InvalidOptionError(f"recipe {getattr(recipe, 'name', recipe)!r} does not apply to a "
                                 f"{artifact.kind} artifact: its network is quantized with one fixed recipe "
                                 "(MinMax, int8 per-channel weights, uint8 activations) and judged box for box",
                                 fix="drop --recipe and the recipe options for detector artifacts")
    if min_agreement is not None and recipe != AUTO:
        raise InvalidOptionError(f"--min-agreement {min_agreement} does not apply to a {artifact.kind} artifact: "
                                 "it is judged box for box (recall, precision, IoU in the report)",
                                 fix="drop --min-agreement for detector artifacts")
    return DETECTOR, None


def _finish_report(report: CalibrationReport, paths, elapsed: float, keep_on_miss: bool) -> CalibrationReport:
    from dataclasses import replace

    written = report.goal.met is not False or keep_on_miss
    if not written:  # a model that failed its own acceptance test is not an artifact
        steps = ("nothing was written: pass --keep-on-miss (keep_on_miss=True) to keep the INT8 model that "
                 "missed, --min-agreement lower, or --recipe auto to search further",)
    else:
        steps = (f"python -m nxport.conventions {paths.onnx}   # re-check any time",
                 "compile/upload the .int8.onnx for the NPU; keep the FP32 artifact as the reference")
    return replace(report, timings_s={"total": round(elapsed, 2)}, next_steps=steps, written=written)


def _image_sets(images, eval_images, max_images, max_eval_images, seed: int, augmentation: Augmentation,
                min_agreement: float | None) -> tuple[ImageSet, ImageSet | None]:
    """List the calibration and evaluation files and refuse sets too small for their use (no decoding yet)."""
    calib = ImageSet.from_folder(images, max_images=max_images, seed=seed, augmentation=augmentation)
    calib.require(MIN_CALIBRATION_IMAGES, "Calibration",
                  "Ranges and GPTQ statistics from fewer photos describe those photos, not the camera's scene.",
                  "add photos like the ones the camera will see (vendor toolchains ask for 100-500)")
    evalset = None
    if eval_images is not None:
        evalset = ImageSet.from_folder(eval_images, max_images=max_eval_images, seed=seed)
    _require_for_goal(calib, evalset, min_agreement)
    return calib, evalset


def _require_for_goal(calib: ImageSet, evalset: ImageSet | None, min_agreement: float | None) -> None:
    if min_agreement is None:
        return
    (evalset or calib).require(
        MIN_EVALUATION_IMAGES_FOR_TARGET, f"Claiming --min-agreement {min_agreement}",
        "With fewer, one image moves the agreement by more than 3 points; the claim would rest on noise.",
        f"pass --eval-images with {MIN_EVALUATION_IMAGES_FOR_TARGET}+ photos the model did not calibrate on, "
        "or --recipe default without --min-agreement (measure only)")


def _refuse_nothing_to_quantize(artifact, model) -> None:
    if not any(node.op_type in COMPUTE_OPS for node in model.graph.node):
        raise NothingToQuantizeError(artifact.path, sorted({node.op_type for node in model.graph.node}))


def _quantize(engine: Engine, recipe, min_agreement, margin: float) -> tuple[Quantized, dict | None]:
    """-> (the chosen result, the automatic search's record or None)."""
    if recipe != AUTO:
        return engine.quantize(recipe), None
    from nxport.calibration.auto import auto_calibrate

    if min_agreement > 1.0:  # agreement and cosine never exceed 1: no search can meet it
        return engine.quantize(DEFAULT), {"note": f"min agreement {min_agreement} > 1 cannot be met; no search run"}
    result = auto_calibrate(engine, min_agreement, margin)
    return result.chosen, result.to_dict()


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


def _measure(engine: Engine, chosen: Quantized, evalset, goal, compare_naive: bool, auto: dict | None,
             targets: tuple[str, ...]) -> CalibrationReport:
    """Everything the report says, measured on `chosen` (and nothing read back from the engine)."""
    import onnx

    conformance = _conformance(chosen.model)
    engine._describe("evaluating")
    fp32_bytes = engine.fp32_path.read_bytes()
    if isinstance(engine.metric, BoxMatch):
        evaluation, met = _box_evaluation(engine, chosen, evalset, fp32_bytes), None
    else:
        evaluation = _score_evaluation(engine, chosen, evalset, fp32_bytes, compare_naive)
        met = _goal_met(evaluation, goal)
    min_agreement, margin = goal
    return CalibrationReport(
        artifact=f"{engine.artifact.name}.int8.onnx", source=engine.fp32_path.name,
        source_sha256=hashlib.sha256(fp32_bytes).hexdigest(), kind=engine.artifact.kind, result=chosen,
        evaluation=evaluation, goal=AccuracyGoal(min_agreement, _goal_on(evaluation.metric, margin), met),
        quantized=inventory(onnx.load_from_string(chosen.model)),
        calibration={**engine.images.summary(), "sha256": engine.calibration_sha256},
        conformance=conformance, metadata_key=INT8_METADATA_KEY, auto=auto,
        npu_preflight=_npu_preflight(chosen.model, targets) if targets else None)


def _score_evaluation(engine: Engine, chosen: Quantized, evalset, fp32_bytes: bytes,
                      compare_naive: bool) -> ScoreEvaluation:
    models = {"int8": chosen.model}
    if compare_naive:
        models["naive"] = engine.quantize(NAIVE).model
    artifact = engine.artifact
    tensors = nx_tensors(evalset, artifact) if evalset is not None else iter(engine.tuning_tensors())
    results = evaluate.compare(engine.fp32_session(), models, tensors, artifact.input_name, engine.metric)
    by_runtime = {key: {rt: a.to_dict() for rt, a in by_rt.items()} for key, by_rt in results.items()}
    metric = engine.metric.name
    errors, per_layer = _layer_errors(engine, chosen.model)
    naive = None
    if compare_naive:
        naive = {**headline(by_runtime["naive"], metric), "recipe": NAIVE.to_dict(), "by_runtime": by_runtime["naive"]}
    return ScoreEvaluation(
        metric=metric, headline=headline(by_runtime["int8"], metric), by_margin=_worst_by_margin(by_runtime["int8"]),
        images=_eval_source(evalset), samples=results["int8"]["ort_cpu"].to_dict()["samples"],
        by_runtime=by_runtime["int8"],
        speed=evaluate.speed_and_size(fp32_bytes, chosen.model, artifact.input_name, engine.tuning_tensors()[0]),
        layers_hurting_most=[e.to_dict() for e in errors[:10]], per_layer_sqnr=per_layer, naive=naive)


def _box_evaluation(engine: Engine, chosen: Quantized, evalset, fp32_bytes: bytes) -> BoxEvaluation:
    images = evalset if evalset is not None else engine.images
    tensors = list(nx_tensors(images, engine.artifact))
    rows = engine.metric.compare(fp32_bytes, chosen.model, tensors, engine.artifact.contract)
    size = {"fp32_bytes": len(fp32_bytes), "int8_bytes": len(chosen.model),
            "size_ratio": round(len(chosen.model) / len(fp32_bytes), 4)}
    return BoxEvaluation(engine.metric.name, rows, _eval_source(evalset), size)


def _npu_preflight(data: bytes, targets: tuple[str, ...]) -> dict:
    """--target: the INT8 model against each NPU profile, as `nxport export --target` records it."""
    import onnx

    from nxport.core.errors import ConfigError
    from nxport.exporters.npu_target import opset_for_targets, preflight_record

    model = onnx.load_from_string(data)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    record = {**preflight_record(model, targets), "opset": opset}
    try:  # calibration keeps the FP32 opset: outside a window is a fact for the report, not a refusal
        record["opset_in_every_window"] = opset_for_targets(targets, opset) == opset
    except ConfigError as exc:  # no opset fits every target at once
        record["opset_in_every_window"], record["opset_note"] = False, exc.args[0] if exc.args else str(exc)
    return record


def _goal_on(metric: str, margin: float) -> str:
    if metric != "top1_agreement" or margin == 0:
        return metric
    return f"top-1 agreement on images whose FP32 top-1 margin is >= {margin}"


def _goal_met(evaluation: ScoreEvaluation, goal) -> bool | None:
    min_agreement, margin = goal
    if min_agreement is None:
        return None
    value = evaluation.headline[evaluation.metric]
    if evaluation.by_margin is not None:  # classifiers: the band the goal applies to
        band = next(b for b in evaluation.by_margin if b["min_margin"] == margin)
        value = band["top1_agreement"] if band["images"] else float("nan")
    return bool(value >= min_agreement)


def _worst_by_margin(evaluation: dict) -> list[dict] | None:
    """Per FP32-margin band, the runtime with the lower top-1 agreement (classifiers only)."""
    runs = [r["by_margin"] for r in evaluation.values() if "by_margin" in r]
    if not runs:
        return None
    return [min(bands, key=lambda b: (b["top1_agreement"], b["ci95"][0])) for bands in zip(*runs)]


def _eval_source(evalset) -> dict:
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
