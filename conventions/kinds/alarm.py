"""`alarm-<id>:<name>;...`: 0/1 flags, float32 (1, C), ids and labels as the scores output (rule D4).

An exporter adds it with `add_alarm_head`: alarm = (scores > threshold) computed inside the graph
(Greater + Cast), so Nx raises the alarm with no post-processing of its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from nxport.conventions.kinds.base import ArtifactKind, ParityMetric, Problem, float_row_problems
from nxport.conventions.names import format_pairs, parse_output_name
from nxport.core.errors import ConfigError, ExportError, ParityError


def format_name(labels: list[str]) -> str:
    return format_pairs("alarm", [(str(i), name) for i, name in enumerate(labels)])


def _declaration(t, parsed):
    return float_row_problems("alarm", t, " 0/1 flags")


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


@dataclass(frozen=True)
class AlarmParity:
    """The alarm flags of the final graph vs PyTorch's scores > threshold on the parity photos."""

    images: int
    threshold: float
    flags_compared: int  # class flags that decide the same way whatever the float noise
    ties: int  # flags whose PyTorch score lies within the parity tolerance of the threshold: not judged
    raised: int  # flags at 1 over all photos
    onnx_consistent: bool  # flags == the graph's own scores > threshold, every one

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def alarm_parity(expected_scores: list[np.ndarray], got_scores: list[np.ndarray], got_flags: list[np.ndarray],
                 threshold: float, atol: float) -> AlarmParity:
    """Exact 0/1 equality with PyTorch's scores > threshold, except where a PyTorch score is within
    `atol` of the threshold: there the export's allowed float noise may flip the comparison (a tie).
    Against the graph's own scores the flags must agree everywhere: the head is a single Greater."""
    expected = np.concatenate([e.reshape(1, -1) for e in expected_scores])
    flags = np.concatenate([f.reshape(1, -1) for f in got_flags])
    own = expected_flags(np.concatenate([g.reshape(1, -1) for g in got_scores]), threshold)
    ties = np.abs(expected - threshold) <= atol
    wrong = (flags != expected_flags(expected, threshold)) & ~ties
    result = AlarmParity(len(got_flags), threshold, int((~ties).sum()), int(ties.sum()), int(flags.sum()),
                         bool(np.array_equal(flags, own)))
    if wrong.any() or not result.onnx_consistent:
        photo, cls = (int(i) for i in np.argwhere(wrong | (flags != own))[0])
        raise ParityError(f"alarm flags differ from scores > {threshold} on {int(wrong.sum())} of "
                          f"{result.flags_compared} flags (first: photo {photo}, class {cls}: flag "
                          f"{flags[photo, cls]:g}, PyTorch score {expected[photo, cls]:.6f})",
                          fix="report this as a bug in nxport with the model name and --alarm value")
    return result


def attach_alarm_head(graph, feeds: list[dict], threshold: float, atol: float) -> dict:
    """Add the alarm head to an exporter's verified graph (exporters.verification.VerifiedGraph), run
    the final graph once on the parity feeds, check the flags (alarm_parity), and hand the checker's
    runtime stage the run of both outputs. Returns what the provenance records."""
    from nxport.core.sessions import cpu_session

    add_alarm_head(graph.model, threshold)
    session = cpu_session(graph.model.SerializeToString())
    names = [o.name for o in session.get_outputs()]
    runs = [session.run(None, feed) for feed in feeds]
    parity = alarm_parity(graph.expected, [r[0] for r in runs], [r[1] for r in runs], threshold, atol)
    evidence = graph.run.evidence
    graph.run.evidence = dataclasses.replace(evidence, first=dict(zip(names, runs[0])),
                                             second=session.run(None, evidence.feeds))
    return {"threshold": threshold, "output": names[1], "parity": parity.to_dict()}


ALARM = ArtifactKind(
    name="alarm", rule_id="D4", grammar="alarm-<id>:<name>;...", priority=3,
    carries_labels=True, ids_follow_shape=True,
    parity_metric=ParityMetric.EXACT, rides_on="scores", response_field="alarm", same_labels_as="scores",
    report_fields=("threshold", "parity"),
    declaration_doc="alarm-: float32 0/1 flags, static shape (1, C).",
    check_declaration=_declaration, check_values=_values,
)
