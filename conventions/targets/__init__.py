"""NPU target profiles: what each accelerator's toolchain accepts, as versioned data with sources.

One JSON file per target and toolchain version (`rknn.json`, `tidl.json`...). Each op has a status
(supported / conditional / unsupported / unknown); conditional ops carry conditions that the preflight
checks on the shape-inferred graph. Every rule names a key of the profile's `sources`.
An op with no public data is `unknown`, never a failure. `load_profile(name)` validates the file
(`validate_profile`) and raises a typed error naming the file and the bad field.
"""

from __future__ import annotations

import enum
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from nxport.core.errors import NxportError, close_matches

_HERE = Path(__file__).parent
SCHEMA_VERSION = 1
ALL = "all"


class OpStatus(enum.Enum):
    SUPPORTED = "supported"
    CONDITIONAL = "conditional"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"


class FallbackPolicy(enum.Enum):
    HOST_PER_OP = "host_per_op"  # unsupported nodes run on the host CPU, the rest on the NPU
    WHOLE_MODEL = "whole_model"  # the whole model must compile for the NPU
    CROP = "crop"  # compile between chosen start/end nodes, the host runs the rest


class Acceptance(enum.Enum):
    ACCEPTED = "accepted"
    NEEDS_CALIBRATION = "needs_calibration"  # the toolchain quantizes a float model itself
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class Precision(enum.Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"  # a QDQ artifact


class ProfileError(NxportError):
    """A target profile file that does not follow the schema (a bug in the shipped data)."""

    def __init__(self, path, problem: str):
        super().__init__(f"target profile {str(path)!r}: {problem}",
                         fix="correct the profile JSON (see conventions/targets/README.md for the schema); "
                             "tests/test_preflight.py::test_every_profile_validates shows every problem")
        self.path, self.problem = path, problem


class UnknownTargetError(NxportError):
    def __init__(self, name: str, candidates):
        candidates = sorted(candidates)
        close = close_matches(name, candidates)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        super().__init__(f"unknown NPU target {name!r}.{hint} Known: {', '.join(candidates)}, or '{ALL}'",
                         fix=f"pass --target with one of {', '.join(candidates)} (repeat the flag), or --target all")
        self.name = name


@dataclass(frozen=True)
class Condition:
    check: str  # a name in conventions.preflight.conditions' registry
    params: dict
    stops_build: bool = False  # failing it stops the build (measured), instead of a host partition


@dataclass(frozen=True)
class OpRule:
    op: str  # "Conv", or "domain:Op" outside the default domain
    status: OpStatus
    source: str
    conditions: tuple[Condition, ...] = ()
    note: str = ""
    by_precision: dict = field(default_factory=dict)  # Precision -> OpStatus where a column differs

    def status_for(self, precision: Precision) -> OpStatus:
        return self.by_precision.get(precision, self.status)


class FloatOutputEffect(enum.Enum):
    """What the toolchain does with an op fed by DequantizeLinear whose output is float (no QuantizeLinear after)."""
    FAIL = "fail"  # the NPU refuses the node: the whole-NPU build stops
    FLOAT16 = "float16"  # the NPU keeps the node in float16 (slower, not the int8 the user asked for)


@dataclass(frozen=True)
class QuantizedOutputRule:
    effect: FloatOutputEffect
    source: str
    note: str = ""


@dataclass(frozen=True)
class ElementTypeRule:
    """Tensor element types the toolchain cannot read (onnx.TensorProto names, e.g. "INT2")."""
    unsupported: tuple[str, ...]
    scope: str  # "inputs": graph inputs only; "any": every tensor, initializer and Cast target of the graph
    stops_build: bool
    source: str
    note: str = ""


@dataclass(frozen=True)
class ArtifactRules:
    float_input: Acceptance
    qdq: Acceptance
    qdq_rules: dict
    source: str
    note: str
    quantized_output: QuantizedOutputRule | None = None  # "a quantized op must have a quantized output"


@dataclass(frozen=True)
class TargetProfile:
    target: str
    family: str
    toolchain: str
    toolchain_version: str
    sources: dict
    opset: dict  # min / max / recommended / source / note
    ir_version_max: int | None
    static_shapes_required: bool
    static_shapes_source: str
    dynamic_fails: bool  # a data-dependent shape stops the NPU build (instead of a host partition)
    artifact: ArtifactRules
    fallback: FallbackPolicy
    unsupported_fails: bool  # an op the toolchain cannot place stops the build (instead of a host partition)
    fallback_source: str
    fallback_note: str
    default_rule: OpRule
    ops: dict
    op_coverage_note: str = ""
    path: str = ""
    element_types: ElementTypeRule | None = None

    def rule_for(self, op_key: str) -> OpRule:
        return self.ops.get(op_key) or OpRule(op_key, self.default_rule.status, self.default_rule.source,
                                              note=self.default_rule.note)

    def counts(self, precision: Precision = Precision.FP32) -> dict:
        counts = {s.value: 0 for s in OpStatus}
        for rule in self.ops.values():
            counts[rule.status_for(precision).value] += 1
        return counts

    def cite(self, source_key: str) -> str:
        """A one-line citation: `repo path@commit` or the URL."""
        src = self.sources[source_key]
        if "repo" in src:
            commit = f"@{src['commit'][:7]}" if src.get("commit") else ""
            return f"{src['repo']} {src['path']}{commit}"
        return src.get("url") or src.get("path", source_key)


def profile_paths() -> dict[str, Path]:
    return {p.stem: p for p in sorted(_HERE.glob("*.json"))}


def list_targets() -> list[str]:
    return list(profile_paths())


def resolve_targets(names) -> list[str]:
    """CLI names -> profile names; `all` expands; a typo raises UnknownTargetError."""
    known = list_targets()
    out: list[str] = []
    for name in names:
        for one in (known if name == ALL else [name]):
            if one not in known:
                raise UnknownTargetError(one, known)
            if one not in out:
                out.append(one)
    return out


@functools.cache
def load_profile(name: str) -> TargetProfile:
    paths = profile_paths()
    if name not in paths:
        raise UnknownTargetError(name, paths)
    path = paths[name]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ProfileError(path, f"not readable JSON ({exc})") from exc
    problems = validate_profile(data, expected_name=name)
    if problems:
        raise ProfileError(path, "; ".join(problems))
    return _build(data, str(path))


def _build(data: dict, path: str) -> TargetProfile:
    ops = {name: _op_rule(name, entry) for name, entry in data["ops"].items()}
    art = data["artifact"]
    fb = data["fallback"]
    return TargetProfile(
        target=data["target"], family=data["family"], toolchain=data["toolchain"],
        toolchain_version=data["toolchain_version"], sources=data["sources"], opset=data["opset"],
        ir_version_max=data.get("ir_version_max"),
        static_shapes_required=data["static_shapes"]["required"], static_shapes_source=data["static_shapes"]["source"],
        dynamic_fails=data["static_shapes"].get("dynamic_effect") == "fail",
        artifact=ArtifactRules(Acceptance(art["float"]), Acceptance(art["qdq"]), art.get("qdq_rules", {}),
                               art["source"], art.get("note", ""), _quantized_output(art.get("quantized_output"))),
        fallback=FallbackPolicy(fb["policy"]), unsupported_fails=fb["unsupported_op"] == "fail",
        fallback_source=fb["source"], fallback_note=fb.get("note", ""),
        default_rule=OpRule("*", OpStatus(data["default_status"]), data["default_source"],
                            note=data.get("default_note", "")),
        ops=ops, op_coverage_note=data.get("op_coverage_note", ""), path=path,
        element_types=_element_types(data.get("element_types")),
    )


def _element_types(entry: dict | None) -> ElementTypeRule | None:
    if entry is None:
        return None
    return ElementTypeRule(tuple(entry["unsupported"]), entry.get("scope", "any"), entry.get("effect") == "fail",
                           entry["source"], entry.get("note", ""))


def _quantized_output(entry: dict | None) -> QuantizedOutputRule | None:
    if entry is None:
        return None
    return QuantizedOutputRule(FloatOutputEffect(entry["effect"]), entry["source"], entry.get("note", ""))


def _op_rule(name: str, entry: dict) -> OpRule:
    conditions = tuple(Condition(c["check"], {k: v for k, v in c.items() if k not in ("check", "effect")},
                                 c.get("effect") == "fail")
                       for c in entry.get("conditions", ()))
    by_precision = {Precision(p): OpStatus(entry[p]) for p in ("fp32", "fp16", "int8") if p in entry}
    return OpRule(name, OpStatus(entry["status"]), entry["source"], conditions, entry.get("note", ""), by_precision)


_REQUIRED = ("schema_version", "target", "family", "toolchain", "toolchain_version", "sources", "opset",
             "static_shapes", "artifact", "fallback", "default_status", "default_source", "ops")


def validate_profile(data: dict, expected_name: str | None = None) -> list[str]:
    """Every schema problem of one profile (empty list: valid). Condition names are checked by the preflight."""
    if not isinstance(data, dict):
        return ["top level must be a JSON object"]
    problems = [f"missing key {k!r}" for k in _REQUIRED if k not in data]
    if problems:
        return problems
    if data["schema_version"] != SCHEMA_VERSION:
        problems.append(f"schema_version {data['schema_version']!r} != {SCHEMA_VERSION}")
    if expected_name and data["target"] != expected_name:
        problems.append(f"target {data['target']!r} does not match the file name {expected_name!r}")
    sources = data["sources"]
    problems += [f"source {k!r} needs a 'url', a 'path' or a 'repo'+'path'"
                 for k, s in sources.items() if not (s.get("url") or s.get("path"))]
    problems += _check_enum("default_status", data["default_status"], OpStatus)
    problems += _check_enum("fallback.policy", data["fallback"].get("policy"), FallbackPolicy)
    if data["fallback"].get("unsupported_op") not in ("host", "fail"):
        problems.append("fallback.unsupported_op must be 'host' or 'fail'")
    for key in ("float", "qdq"):
        problems += _check_enum(f"artifact.{key}", data["artifact"].get(key), Acceptance)
    if not isinstance(data["static_shapes"].get("required"), bool):
        problems.append("static_shapes.required must be true or false")
    if data["static_shapes"].get("dynamic_effect", "host") not in ("host", "fail"):
        problems.append("static_shapes.dynamic_effect must be 'host' or 'fail'")
    for where in ("opset", "static_shapes", "artifact", "fallback"):
        if data[where].get("source") not in sources:
            problems.append(f"{where}.source {data[where].get('source')!r} is not a key of sources")
    qout = data["artifact"].get("quantized_output")
    if qout is not None:
        problems += _check_enum("artifact.quantized_output.effect", qout.get("effect"), FloatOutputEffect)
        if qout.get("source") not in sources:
            problems.append(f"artifact.quantized_output.source {qout.get('source')!r} is not a key of sources")
    problems += _check_element_types(data.get("element_types"), sources)
    if data["default_source"] not in sources:
        problems.append(f"default_source {data['default_source']!r} is not a key of sources")
    for name, entry in data["ops"].items():
        problems += _check_op(name, entry, sources)
    return problems


def _check_element_types(entry: dict | None, sources: dict) -> list[str]:
    if entry is None:
        return []
    import onnx  # the names are onnx.TensorProto's own

    known = set(onnx.TensorProto.DataType.keys())
    problems = [f"element_types.unsupported {t!r} is not an onnx.TensorProto type ({', '.join(sorted(known))})"
                for t in entry.get("unsupported", []) if t not in known]
    if entry.get("scope", "any") not in ("any", "inputs"):
        problems.append("element_types.scope must be 'any' or 'inputs'")
    if entry.get("effect", "host") not in ("host", "fail"):
        problems.append("element_types.effect must be 'host' or 'fail'")
    if entry.get("source") not in sources:
        problems.append(f"element_types.source {entry.get('source')!r} is not a key of sources")
    return problems


def _check_enum(where: str, value, enum_cls) -> list[str]:
    allowed = [e.value for e in enum_cls]
    return [] if value in allowed else [f"{where} {value!r} not in {allowed}"]


def _check_op(name: str, entry: dict, sources: dict) -> list[str]:
    problems = _check_enum(f"ops.{name}.status", entry.get("status"), OpStatus)
    for p in ("fp32", "fp16", "int8"):
        if p in entry:
            problems += _check_enum(f"ops.{name}.{p}", entry[p], OpStatus)
    if entry.get("source") not in sources:
        problems.append(f"ops.{name}.source {entry.get('source')!r} is not a key of sources")
    conditions = entry.get("conditions", [])
    if (entry.get("status") == OpStatus.CONDITIONAL.value) != bool(conditions):
        problems.append(f"ops.{name}: a 'conditional' op needs conditions, and only a conditional op has them")
    problems += [f"ops.{name}: condition {c!r} has no 'check'" for c in conditions if "check" not in c]
    problems += [f"ops.{name}: condition effect {c['effect']!r} must be 'host' or 'fail'"
                 for c in conditions if c.get("effect", "host") not in ("host", "fail")]
    return problems
