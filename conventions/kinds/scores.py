"""`scores-<id>:<name>;...`: class probabilities, float32 (1, C) (rule D2)."""

from __future__ import annotations

import numpy as np

from nxport.conventions import spec
from nxport.conventions.kinds.base import ArtifactKind, Int8Metric, ParityMetric, Problem, float_row_problems
from nxport.conventions.names import format_pairs


def format_name(labels: list[str]) -> str:
    return format_pairs("scores", [(str(i), name) for i, name in enumerate(labels)])


def _declaration(t, parsed):
    return float_row_problems("scores", t, "")


def _values(t, value: np.ndarray, producer: str | None):
    atol = spec.limit("probability_atol")
    label = t.name[:60]
    if value.size and (value.min() < -atol or value.max() > 1 + atol):
        yield Problem(f"scores output {label!r} has values in [{value.min():g}, {value.max():g}]; "
                      "probabilities must lie in [0, 1] (these look like logits)")
        return
    if producer == "Sigmoid":
        return  # multi-label head: independent probabilities need not sum to 1
    sums = value.reshape(value.shape[0], -1).sum(axis=1) if value.ndim else value.reshape(1)
    if value.size and np.any(np.abs(sums - 1.0) > atol):
        yield Problem(f"scores output {label!r} sums to {float(sums.flat[0]):.4f}, not 1 (tolerance {atol}); "
                      "single-label scores must be a probability distribution",
                      fix="append Softmax over the class axis; for multi-label heads end with Sigmoid instead")


SCORES = ArtifactKind(
    name="scores", rule_id="D2", grammar="scores-<id>:<name>;...", priority=0,
    carries_labels=True, ids_follow_shape=True, selects_postprocessing=True,
    parity_metric=ParityMetric.MAX_ABS_AND_TOP1, int8_metric=Int8Metric.TOP1, route="/classify",
    report_fields=("labels", "activation", "parity"),
    declaration_doc="scores-: float32, static shape (1, C).",
    check_declaration=_declaration, check_values=_values,
)
