"""`embedding-dim:<D>;norm:<l2|none>;pool:<name>`: a float32 (1, D) vector (rule D5, project extension)."""

from __future__ import annotations

import numpy as np

from nxport.conventions import spec
from nxport.conventions.kinds.base import FLOAT32, ArtifactKind, Int8Metric, ParityMetric, Problem, one_by_c_problem
from nxport.conventions.names import ParsedName, format_pairs, is_decimal_id

KEYS = ("dim", "norm", "pool")
NORMS = ("l2", "none")


def format_name(dim: int, norm: str, pool: str) -> str:
    return format_pairs("embedding", [("dim", str(dim)), ("norm", norm), ("pool", pool)])


def key_problems(parsed: ParsedName) -> tuple[list[str], int | None]:
    """What is wrong with the dim/norm/pool keys, and the declared dim when it is readable."""
    keys = dict(parsed.pairs)
    problems = [f"missing key {k!r}" for k in KEYS if k not in keys]
    dim = None
    if "dim" in keys:
        if is_decimal_id(keys["dim"]) and int(keys["dim"]) > 0:
            dim = int(keys["dim"])
        else:
            problems.append(f"dim {keys['dim']!r} is not a positive integer")
    if "norm" in keys and keys["norm"] not in NORMS:
        problems.append(f"norm {keys['norm']!r} is not one of {', '.join(NORMS)}")
    return problems, dim


def _declaration(t, parsed):
    problems, dim = key_problems(parsed)
    if t.elem_type != FLOAT32:
        problems.append(f"dtype is {t.dtype_name}, expected float32")
    expected = f"(1, {dim})" if dim else "(1, D)"
    shape_problem = one_by_c_problem(t, expected)
    if shape_problem:
        problems.append(shape_problem)
    elif dim is not None and t.shape[1] != dim:
        problems.append(f"has shape {t.shape} but the name says dim:{dim}; expected {expected}")
    for problem in problems:
        yield Problem(f"embedding output {t.name!r}: {problem}")


def _values(t, value: np.ndarray, producer: str | None):
    from nxport.conventions.names import parse_output_name

    if dict(parse_output_name(t.name).pairs).get("norm") != "l2":
        return
    atol = spec.limit("unit_norm_atol")
    rows = value.reshape(value.shape[0], -1) if value.ndim else value.reshape(1, 1)
    norms = np.linalg.norm(rows.astype(np.float64), axis=1)
    if np.any(np.abs(norms - 1.0) > atol):
        yield Problem(f"embedding output {t.name[:60]!r} says norm:l2 but its L2 norm is "
                      f"{float(norms[0]):.4f}, not 1 (tolerance {atol})",
                      fix="L2-normalize inside the graph (x / ||x||, e.g. torch.nn.functional.normalize) "
                      "or rename the output with norm:none")


EMBEDDING = ArtifactKind(
    name="embedding", rule_id="D5", grammar="embedding-dim:<D>;norm:<l2|none>;pool:<name>", priority=2,
    pairs_only=True, required_by_profiles=("text",), profiles=("image", "text"),
    # D5 is INFO background in the spec, but a malformed embedding name breaks the project's own
    # consumers (the image/text towers must agree on dim and norm), so violations are MUST.
    violation_level="MUST",
    parity_metric=ParityMetric.COSINE, int8_metric=Int8Metric.COSINE, route="/embed",
    report_fields=("dim", "norm", "pool", "parity"),
    declaration_doc="embedding-dim:<D>;norm:<l2|none>;pool:<name>, float32 (1, D).",
    check_declaration=_declaration, check_values=_values,
)
