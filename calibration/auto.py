"""The automatic mode: try recipes; if the target is missed, spend float where it buys the most.

Candidates are scored on the calibration images (never on the evaluation images, which only the
final report sees), cheapest first in what they cost on the device:
1. activations left unrounded, every weight still 8-bit (0 weight bytes float): the tensors whose
   rounding alone adds the most output error, 1, 2, 4, 8 and 16 of them, unrounded in the best
   recipe's model after its fits;
2. float regions, smallest weight bytes first: the layers that add the most quantization error
   (qdq_loss_debug SQNR drop) with their activations, and the network's first/last layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from nxport.calibration import evaluate
from nxport.calibration.float_activations import activation_tensors, keep_float
from nxport.calibration.metrics import as_probabilities, cosine, kl_divergence
from nxport.calibration.quantized import Quantized
from nxport.calibration.recipes import AUTO_BASES, Recipe, WeightRounding
from nxport.calibration.sensitivity import LayerError, layer_errors

COMPUTE = {"Conv", "Gemm", "MatMul", "ConvTranspose"}
SENSITIVE_COUNTS = (4, 8)
FLOAT_ACTIVATION_COUNTS = (1, 2, 4, 8, 16)
ACTIVATION_RANK_SAMPLES = 16
# (first, last) fractions of the compute layers kept in float.
REGIONS = ((0.1, 0.0), (0.0, 0.1), (0.2, 0.0), (0.1, 0.1), (0.3, 0.0), (0.2, 0.1), (0.45, 0.0), (0.3, 0.1),
           (0.6, 0.0), (0.2, 0.2), (0.3, 0.2), (0.45, 0.2), (0.3, 0.3), (0.45, 0.3))


@dataclass
class Trial:
    recipe: Recipe
    tuning: dict  # runtime -> metrics
    metric: float
    reasons: dict = field(default_factory=dict)  # node kept float -> why

    def to_dict(self) -> dict:
        return {"recipe": self.recipe.name, "float_nodes": len(self.recipe.excluded_nodes),
                "tuning_metric": round(self.metric, 6), "tuning": self.tuning}


@dataclass(frozen=True)
class AutoResult:
    """The search's chosen INT8 model (its own fits and grid: the report reads only this) and its trail."""

    chosen: Quantized
    trials: tuple[Trial, ...]
    reasons: dict  # node or tensor kept float -> why
    layer_errors: tuple[LayerError, ...]

    @property
    def recipe(self) -> Recipe:
        return self.chosen.recipe

    def to_dict(self) -> dict:
        return {"trials": [t.to_dict() for t in self.trials], "float_reasons": self.reasons}


def _result(chosen: Quantized, trials: list, reasons: dict, ranked=()) -> AutoResult:
    return AutoResult(chosen, tuple(trials), reasons, tuple(ranked))


def _try(engine, recipe: Recipe, margin: float, reasons: dict | None = None) -> tuple[Trial, Quantized]:
    quantized = engine.quantize(recipe)
    by_runtime = engine.score({"candidate": quantized.model})["candidate"]
    tuning = {rt: agreement.to_dict() for rt, agreement in by_runtime.items()}
    return Trial(recipe, tuning, evaluate.worst_for_tuning(by_runtime, margin), reasons or {}), quantized


def _neighbourhood(model, names: set[str]) -> set[str]:
    """A node plus the non-compute nodes next to it (its Clip/Add), so its activations stay float."""
    produced = {out: n for n in model.graph.node for out in n.output}
    grown = set(names)
    for node in model.graph.node:
        if node.op_type in COMPUTE:
            continue
        if any(produced.get(i) is not None and produced[i].name in names for i in node.input):
            grown.add(node.name)
    return grown


def float_region_candidates(model, ranked: list[LayerError]) -> list[tuple[str, dict]]:
    """(name, {node: reason}) float regions, smallest first."""
    candidates = []
    compute_ranked = [e for e in ranked if e.op_type in COMPUTE]
    for count in SENSITIVE_COUNTS:
        top = compute_ranked[:count]
        reasons = {e.node: f"adds {e.drop_db:.1f} dB of quantization noise (rank {i + 1} by qdq_loss_debug)"
                   for i, e in enumerate(top)}
        for node in _neighbourhood(model, set(reasons)) - set(reasons):
            reasons[node] = "keeps the activation of a float layer float"
        candidates.append((f"sensitive-{count}", reasons))
    nodes = list(model.graph.node)
    for first, last in REGIONS:
        reasons = {**_prefix(nodes, first), **_suffix(nodes, last)}
        candidates.append((f"first-{int(first * 100)}pct-last-{int(last * 100)}pct", reasons))
    # Cheapest first in what matters on the device: the weight bytes that stay float (late layers
    # of a CNN hold most parameters, early ones few), then the number of float nodes.
    return sorted(candidates, key=lambda c: (float_weight_bytes(model, set(c[1])), len(c[1])))


def float_weight_bytes(model, names: set[str]) -> int:
    sizes = {t.name: int(np.prod(t.dims)) * 4 for t in model.graph.initializer}
    return sum(sizes.get(i, 0) for n in model.graph.node if n.name in names for i in n.input)


def _prefix(nodes, fraction: float) -> dict:
    compute = [i for i, n in enumerate(nodes) if n.op_type in COMPUTE]
    if fraction <= 0:
        return {}
    cut = compute[max(0, int(len(compute) * fraction) - 1)]
    why = f"early layer (first {int(fraction * 100)}% of compute layers): its error propagates through the rest"
    return {n.name: why for n in nodes[:cut + 2] if n.op_type != "Softmax"}


def _suffix(nodes, fraction: float) -> dict:
    compute = [i for i, n in enumerate(nodes) if n.op_type in COMPUTE]
    if fraction <= 0:
        return {}
    cut = compute[len(compute) - max(1, int(len(compute) * fraction))]
    why = f"late layer (last {int(fraction * 100)}% of compute layers): the outputs are most sensitive to its error"
    return {n.name: why for n in nodes[cut:] if n.op_type != "Softmax"}


def tuning_target(target: float) -> float:
    """Candidates are scored on the calibration images, the report on unseen ones: aim halfway
    between the target and 1 so that the unseen images still meet the target."""
    return target + (1.0 - target) / 2


def auto_calibrate(engine, target: float, margin: float = 0.0) -> AutoResult:
    aim = tuning_target(target)
    trials, best, best_model = [], None, None
    for base in AUTO_BASES:
        trial, quantized = _try(engine, base, margin)
        trials.append(trial)
        if best is None or trial.metric > best.metric:
            best, best_model = trial, quantized
        if trial.metric >= aim:
            return _result(quantized, trials, {})
    found = _float_activation_search(engine, best, best_model.model, aim, margin, trials)
    if found is not None:
        return found
    base, ranked = best.recipe, _rank(engine, best_model.model)
    chosen = None
    for name, reasons in float_region_candidates(engine.fp32_model, ranked):
        recipe = base.with_excluded(sorted(reasons), name=f"{base.name}+{name}")
        # Scored with nearest rounding (GPTQ costs one pass per layer); only the chosen region is
        # quantized with the base recipe's rounding, below.
        trial, _ = _try(engine, replace(recipe, weight_rounding=WeightRounding.NEAREST), margin, reasons)
        trial.recipe = recipe
        trials.append(trial)
        if chosen is None or trial.metric > chosen.metric:
            chosen = trial
        if trial.metric >= aim:
            break
    if chosen is not None and chosen.metric > best.metric:
        final, quantized = _try(engine, chosen.recipe, margin, chosen.reasons)
        trials.append(final)
        if final.metric >= best.metric:
            return _result(quantized, trials, final.reasons, ranked)
    return _result(best_model, trials, best.reasons, ranked)


def _rank(engine, data: bytes) -> list[LayerError]:
    path = engine.workdir / "sensitivity.int8.onnx"
    path.write_bytes(data)
    engine._describe("ranking layers (qdq_loss_debug)")
    return layer_errors(engine.fp32_model, engine.fp32_path, path, engine.sensitivity_feeds(), engine.workdir)


def _output_error(ref: np.ndarray, got: np.ndarray, embedding: bool) -> float:
    if embedding:
        return 1.0 - cosine(ref, got)
    return kl_divergence(as_probabilities(ref), as_probabilities(got))


def rank_activations(engine, data: bytes) -> list[tuple[str, float]]:
    """Activation tensors of `data`, most to gain first: the output error (KL, or 1 - cosine) left
    when that tensor alone is not rounded, on a slice of the calibration images (fused kernels)."""
    import onnx

    tensors = engine.tuning_tensors()[:ACTIVATION_RANK_SAMPLES]
    name, embedding = engine.artifact.input_name, engine.artifact.is_embedding  # KL needs probabilities
    refs = engine.tuning_references()[:ACTIVATION_RANK_SAMPLES]
    engine._describe("ranking activations")
    scored = []
    for tensor_name in activation_tensors(onnx.load_from_string(data)):
        model = onnx.load_from_string(data)
        keep_float(model, {tensor_name})
        sess = evaluate.session(model.SerializeToString())
        error = np.mean([_output_error(r, evaluate.first_output(sess, name, t), embedding) for r, t in zip(refs, tensors)])
        scored.append((tensor_name, float(error)))
    return sorted(scored, key=lambda item: item[1])


def _float_activation_search(engine, best: Trial, best_data: bytes, aim: float, margin: float,
                             trials: list) -> AutoResult | None:
    """Unround the most sensitive activations of the best recipe's model (no re-quantization per
    count). The first count that reaches `aim` is quantized once more from its recipe, which gives
    the same numbers (Engine.quantize unrounds after the fits) and a stamp that reproduces them."""
    import onnx

    ranked = rank_activations(engine, best_data)
    for count in FLOAT_ACTIVATION_COUNTS:
        chosen = tuple(name for name, _ in ranked[:count])
        model = onnx.load_from_string(best_data)
        keep_float(model, set(chosen))
        by_runtime = engine.score({"candidate": model.SerializeToString()})["candidate"]
        recipe = replace(best.recipe, float_activations=chosen, name=f"{best.recipe.name}+float-activations-{count}")
        reasons = {t: f"activation kept unrounded (weights stay 8-bit): output error {e:.2e} without its rounding "
                   f"(rank {i + 1} of {len(ranked)})" for i, (t, e) in enumerate(ranked[:count])}
        trial = Trial(recipe, {rt: a.to_dict() for rt, a in by_runtime.items()},
                      evaluate.worst_for_tuning(by_runtime, margin), reasons)
        trials.append(trial)
        if trial.metric >= aim:
            return _result(engine.quantize(recipe), trials, reasons)
    return None
