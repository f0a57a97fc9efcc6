"""One calibration session: FP32 artifact, image stream, cached ranges; quantize(recipe) -> Quantized.

One engine for every kind: the kind's cut (calibration.cut) says which graph is quantized and what
stays float, its agreement metric (calibration.agreement) how INT8 is judged.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from nxport.calibration import evaluate
from nxport.calibration.agreement import metric_for
from nxport.calibration.cut import cut_for
from nxport.calibration.quantize import Stamp, collect_ranges, run_quantizer
from nxport.calibration.quantized import Quantized
from nxport.calibration.reader import ImageSet, NxCalibrationReader, nx_tensors
from nxport.calibration.bias_correction import correct_biases
from nxport.calibration.errors import InvalidOptionError
from nxport.calibration.float_activations import activation_tensors, keep_float
from nxport.calibration.input_grid import align_input_grid
from nxport.calibration.recipes import Recipe, WeightRounding
from nxport.calibration.rounding import round_weights
from nxport.calibration.storage import store_weights

TUNING_SAMPLES = 48  # calibration samples the automatic mode scores candidates on
SENSITIVITY_SAMPLES = 4


@dataclass
class Engine:
    """Caches shared by every recipe of one session (ranges, decoded samples, FP32 outputs); results
    are returned by quantize(), never kept here. The artifact's kind decides only the cut."""

    artifact: object  # calibration.artifact.Artifact
    fp32_model: object  # onnx.ModelProto
    images: ImageSet
    workdir: Path
    progress: object = None  # a tqdm-like object with update()/set_description(), or None
    _ranges: dict = field(default_factory=dict)
    _tuning: list = field(default_factory=list)
    _tuning_ref: list = field(default_factory=list)
    _fit: list = field(default_factory=list)
    _fp32_session: object = None
    calibration_sha256: str = ""

    def __post_init__(self):
        self.cut = cut_for(self.artifact, self.fp32_model, self.workdir)
        self.calibration_sha256 = self.images.sha256()

    @property
    def fp32_path(self) -> Path:
        return self.artifact.path

    @property
    def metric(self):
        return metric_for(self.artifact.contract.kind)

    def fp32_session(self):
        if self._fp32_session is None:
            self._fp32_session = evaluate.session(str(self.fp32_path))
        return self._fp32_session

    def reader(self) -> NxCalibrationReader:
        return NxCalibrationReader(nx_tensors(self.images, self.artifact), self.artifact.input_name, self.progress)

    def ranges(self, recipe: Recipe) -> Path:
        key = recipe.calibration_key()
        if key not in self._ranges:
            self._describe(f"calibrating ({recipe.method.value})")
            self._ranges[key] = collect_ranges(self.cut.quantized_path, self.reader, recipe, self.workdir)
        return self._ranges[key]

    def quantize(self, recipe: Recipe) -> Quantized:
        """Quantize the cut with `recipe`: a new frozen result each call, the engine unchanged but its caches."""
        import onnx

        self._describe(f"quantizing ({recipe.name})")
        out = self.workdir / "candidate.int8.onnx"
        run_quantizer(self.cut.quantized_path, recipe, self.ranges(recipe), out, list(self.cut.float_tail))
        float_nodes = tuple(sorted(set(recipe.excluded_nodes)
                                   | (set(self.cut.float_tail) if recipe.keep_output_tail_float else set())))
        stamp = Stamp(self.calibration_sha256, self.images.decoded_count * (1 + self.images.augmentation.copies), float_nodes)
        qmodel = self.cut.finish(onnx.load(str(out)), recipe, stamp)
        input_grid = None
        if recipe.align_input_grid:
            norm = self.artifact.normalization
            input_grid = align_input_grid(qmodel, self.artifact.input_name, norm.means, norm.vars)
        store_weights(qmodel, recipe.weight_storage)  # before bias correction: fit the numerics that run
        rounding, bias = self._fit_weights(qmodel, recipe)
        if recipe.float_activations:
            # Last, after the fits: the automatic mode scores exactly this (fits made with every
            # activation rounded, then these unrounded). Re-fitting under the unrounded numerics was
            # measured worse on the tuning images (held-out lite0: 1.000 -> 0.958 at margin 0).
            _require_activations(qmodel, recipe.float_activations)
            keep_float(qmodel, set(recipe.float_activations))
        return Quantized(recipe, qmodel.SerializeToString(), float_nodes, self.cut.scope, input_grid, rounding, bias)

    def _fit_weights(self, qmodel, recipe: Recipe) -> tuple[dict | None, dict | None]:
        """GPTQ rounding, then bias correction, on the calibration samples (in place); their records."""
        def fit():
            return iter(self.fit_tensors(recipe.fit_samples))

        def session_factory(data):
            return evaluate.session(data, threads=1)

        rounding = bias = None
        if recipe.weight_rounding is WeightRounding.GPTQ:
            self._describe(f"rounding weights ({recipe.name})")
            rounding = round_weights(qmodel, self.fp32_model, fit, self.artifact.input_name, session_factory)
        if recipe.bias_correction:
            self._describe(f"bias correction ({recipe.name})")
            bias = correct_biases(qmodel, self.fp32_model, fit, self.artifact.input_name, session_factory)
        return rounding, bias

    def fit_tensors(self, count: int) -> list:
        """The first `count` calibration samples, decoded once: the fits read them once per layer.
        Memory: count x one input tensor (32 x 0.6 MB for a 224 x 224 image)."""
        if len(self._fit) < count:
            self._fit = list(itertools.islice(nx_tensors(self.images, self.artifact), count))
        return self._fit[:count]

    def tuning_references(self) -> list:
        """FP32 outputs of the tuning tensors, computed once (shared with score())."""
        sess = self.fp32_session()
        for tensor in self.tuning_tensors()[len(self._tuning_ref):]:
            self._tuning_ref.append(evaluate.first_output(sess, self.artifact.input_name, tensor))
        return self._tuning_ref

    def tuning_tensors(self) -> list:
        if not self._tuning:
            self._tuning = list(itertools.islice(nx_tensors(self.images, self.artifact), TUNING_SAMPLES))
        return self._tuning

    def score(self, models: dict[str, bytes]) -> dict:
        """Agreement with FP32 on (a bounded slice of) the calibration stream, both runtimes."""
        self._describe("scoring candidates")
        return evaluate.compare(self.fp32_session(), models, self.tuning_tensors(), self.artifact.input_name,
                                self.metric, fp32_cache=self._tuning_ref)

    def sensitivity_feeds(self) -> list[dict]:
        return [{self.artifact.input_name: t} for t in self.tuning_tensors()[:SENSITIVITY_SAMPLES]]

    def _describe(self, text: str) -> None:
        if self.progress is not None:
            self.progress.set_description(text)


def _require_activations(qmodel, names) -> None:
    known = activation_tensors(qmodel)
    missing = sorted(set(names) - set(known))
    if missing:
        raise InvalidOptionError(f"float_activations {missing} are not quantized activations of this model",
                                 fix=f"name tensors that a QuantizeLinear reads, e.g. {known[:3]} "
                                 "(calibration.float_activations.activation_tensors lists them)")
