"""`alarm-<id>:<name>;...`: 0/1 flags, float32 (1, C), ids and labels as the scores output (rule D4).

An exporter adds it with `add_alarm_head`: alarm = (scores > threshold) computed inside the graph
(Greater + Cast), so Nx raises the alarm with no post-processing of its own.
"""

from __future__ import annotations

import numpy as np

from nxport.conventions.kinds.base import FLOAT32, ArtifactKind, ParityMetric, Problem, one_by_c_problem, short
from nxport.conventions.names import format_pairs, parse_output_name
from nxport.core.errors import ConfigError, ExportError


def format_name(labels: list[str]) -> str:
    return format_pairs("alarm", [(str(i), name) for i, name in enumerate(labels)])


def _declaration(t, parsed):
    if t.elem_type != FLOAT32:
        yield Problem(f"alarm output {short(t.name)!r} is {t.dtype_name}; expected float32 0/1 flags")
    problem = one_by_c_problem(t)
    if problem:
        yield Problem(f"alarm output {short(t.name)!r} {problem}")


def _values(t, value: np.ndarray, producer: str | None):
    if value.size and not np.all(np.isin(value, (0, 1))):
        yield Problem(f"alarm output {t.name[:60]!r} has values other than 0/1 "
                      f"(min {value.min():g}, max {value.max():g})")


def check_threshold(threshold: float) -> float:
    """A threshold the Greater can compare probabilities with: 0 <= t < 1 (at 1 no alarm could ever fire)."""
    if not isinstance(threshold, (int, float)) or not 0.0 <= float(threshold) < 1.0:
        raise ConfigError(f"--alarm {threshold!r} is not a probability threshold in [0, 1)",
                          fix="pass --alarm 0.3 to raise `alarm-` flags where a class probability exceeds 0.3")
    return float(threshold)


def expected_flags(scores: np.ndarray, threshold: float) -> np.ndarray:
    """What the alarm head computes from the scores: the reference its parity compares with."""
    return (np.asarray(scores, np.float32) > np.float32(threshold)).astype(np.float32)


def add_alarm_head(model, threshold: float):
    """Append `alarm-<labels>` = Cast(Greater(scores, threshold), float) as a second output of `model`.

    The scores output must exist; the alarm keeps its ids and labels. Returns the model (edited in place)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    threshold = check_threshold(threshold)
    graph = model.graph
    scores = next((o for o in graph.output if parse_output_name(o.name).kind == "scores"), None)
    if scores is None:
        raise ExportError(f"--alarm needs a `scores-` output; the graph has {[o.name[:40] for o in graph.output]}",
                          fix="pass --alarm to `nxport export classification` only")
    if any(parse_output_name(o.name).kind == "alarm" for o in graph.output):
        raise ExportError("the graph already has an `alarm-` output", fix="add the alarm head once")
    labels = [name for _, name in sorted((int(k), v) for k, v in parse_output_name(scores.name).pairs)]
    name = format_name(labels)
    graph.initializer.append(numpy_helper.from_array(np.array(threshold, np.float32), "alarm_threshold"))
    graph.node.extend([
        helper.make_node("Greater", [scores.name, "alarm_threshold"], ["alarm_above"], name="alarm_greater"),
        helper.make_node("Cast", ["alarm_above"], [name], name="alarm_cast", to=TensorProto.FLOAT),
    ])
    dims = [d.dim_value for d in scores.type.tensor_type.shape.dim]
    graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, dims))
    onnx.checker.check_model(model)
    return model


ALARM = ArtifactKind(
    name="alarm", rule_id="D4", grammar="alarm-<id>:<name>;...", priority=3,
    carries_labels=True, ids_follow_shape=True,
    parity_metric=ParityMetric.EXACT, rides_on="scores", response_field="alarm",
    report_fields=("threshold", "parity"),
    declaration_doc="alarm-: float32 0/1 flags, static shape (1, C).",
    check_declaration=_declaration, check_values=_values,
)
