"""The artifact contract: what an Nx artifact promises, read and written in this one place.

Exporters stamp it (`stamp_contract`); the checker, calibration, serving and benchmarks read it
(`read_contract`). Every question - which input is the image, its layout, the doc_string
normalization, the output kind, the class labels, the embedding dim/norm, the text tower, INT8,
the opset/IR caps - is decided here once, from the same parsed view the checker's rules read.

A consumer refuses an artifact exactly when the checker's static rules report a MUST finding
(`Contract.require`), so `python -m nxport.conventions`, `calibrate` and the server cannot disagree, and
every refusal names the same rule ids the checker prints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

from nxport.conventions.checking.context import TEXT_INPUT, Loaded, ModelContext, TensorInfo, build_context, load_source
from nxport.conventions.checking.findings import Finding, Level
from nxport.conventions.kinds import ArtifactKind, all_kinds, get_kind, kind_of, optional_input_names
from nxport.conventions.limits import IR_VERSION_MAX, OPSET_DEFAULT, OPSET_MAX, OPSET_MIN  # noqa: F401  re-exported
from nxport.conventions.normalization import Normalization
from nxport.conventions.nx_input import InputLayout
from nxport.conventions.checking.rulebook import run_rules
from nxport.conventions.checking.rules.input_rules import layout_problem
from nxport.core.errors import ArtifactContractError


IMAGE_INPUT = "image-"  # rule B2
PROVENANCE_KEY = "nxport"
INT8_KEY = "nxport.int8"
QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


class Profile(str, Enum):
    IMAGE = "image"  # an Nx vision model
    TEXT = "text"  # the text tower of a CLIP pair (`tokens-` input)


# One member per registered kind (conventions.kinds), plus UNKNOWN: consumers compare with
# OutputKind.SCORES etc. while the list itself comes from the registry.
OutputKind = Enum("OutputKind", {**{k.name.upper(): k.name for k in all_kinds()}, "UNKNOWN": "unknown"}, type=str)
OutputKind.__doc__ = "The kind of an artifact's primary output (conventions.kinds), or UNKNOWN."
OutputKind.__module__ = __name__
# The output a consumer serves or measures when a graph has several: Nx post-processing first.
_KIND_PRIORITY = tuple(OutputKind(k.name) for k in sorted(all_kinds(), key=lambda k: k.priority))


@dataclass(frozen=True)
class EmbeddingDecl:
    dim: int | None
    norm: str | None  # "l2", "none", or None when the name has no norm key (rule D5)
    pool: str | None

    @property
    def normalized_in_graph(self) -> bool:
        return self.norm == "l2"


@dataclass(frozen=True)
class Int8Decl:
    qdq_nodes: int
    settings: dict | None  # the calibration recipe stamped in metadata_props["nxport.int8"]


@dataclass(frozen=True)
class Contract:
    source: str
    profile: Profile
    input: TensorInfo | None  # the tensor Nx feeds: the image (or the `tokens-` ids of a text tower)
    layout: InputLayout | None  # None unless the image input is static, rank 4 and unambiguous (B1, B4, B6)
    normalization: Normalization | None  # graph.doc_string (C2); None for text towers or when invalid
    output: TensorInfo | None
    kind: OutputKind
    labels: tuple[str, ...]
    embedding: EmbeddingDecl | None
    optional_inputs: tuple[TensorInfo, ...]
    int8: Int8Decl | None
    opset: int | None
    ir_version: int
    provenance: dict
    findings: tuple[Finding, ...] = field(repr=False)  # the checker's static findings
    # every output of a registered kind beside the primary one, e.g. the `alarm-` flags of a classifier
    companions: tuple[tuple[OutputKind, TensorInfo], ...] = ()

    @property
    def kind_spec(self) -> ArtifactKind | None:
        """The registered kind of the primary output (None for UNKNOWN)."""
        return None if self.kind is OutputKind.UNKNOWN else get_kind(self.kind.value)

    def companion(self, kind: OutputKind) -> TensorInfo | None:
        return next((t for k, t in self.companions if k is kind), None)

    @property
    def violations(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.MUST)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.input.shape) if self.input is not None and self.input.shape else ()

    def require(self, consumer: str, *, profiles: tuple[Profile, ...] = (Profile.IMAGE,),
                kinds: tuple[OutputKind, ...] | None = None) -> "Contract":
        """Self if `consumer` can use this artifact, else ArtifactContractError naming the rule ids."""
        if self.violations:
            raise ArtifactContractError(self.source, consumer, [(f.rule_id, f.message) for f in self.violations])
        if self.profile not in profiles:
            raise ArtifactContractError(self.source, consumer, [(
                "B1", f"it is a {self.profile.value}-profile artifact (input {self.input.name if self.input else None!r}); "
                f"{consumer} takes {' or '.join(p.value for p in profiles)} artifacts")])
        if kinds is not None and self.kind not in kinds:
            raise ArtifactContractError(self.source, consumer, [(
                "D1", f"its output kind is {self.kind.value!r}; {consumer} takes "
                f"{', '.join(k.value + '-' for k in kinds)} outputs")])
        return self


def read_contract(source, *, profile: str | None = None) -> Contract:
    """A path, bytes or ModelProto -> Contract. An unreadable source is ArtifactContractError (A3)."""
    loaded = load_source(source)
    if loaded.model is None:
        raise ArtifactContractError(loaded.label, "read", [(loaded.rule_id, loaded.error or "unreadable")])
    ctx = build_context(loaded, profile)
    findings, _ = run_rules(ctx)
    return contract_from_context(ctx, loaded, findings)


def contract_from_context(ctx: ModelContext, loaded: Loaded, findings: list[Finding]) -> Contract:
    """The checker's parsed view + its static findings -> the contract (no second parse)."""
    text = ctx.profile == Profile.TEXT.value
    chosen = _text_input(ctx) if text else ctx.image_input
    output, kind = _primary_output(ctx)
    parsed = ctx.parsed_outputs[output.name] if output is not None else None
    spec = kind_of(kind.value)
    return Contract(
        source=loaded.label,
        profile=Profile(ctx.profile),
        input=chosen,
        layout=None if text else _layout(chosen),
        normalization=None if text else ctx.normalization,
        output=output,
        kind=kind,
        labels=_labels(spec, parsed) if spec is not None and spec.carries_labels else (),
        embedding=_embedding(parsed, output) if kind is OutputKind.EMBEDDING else None,
        optional_inputs=tuple(t for t in ctx.inputs if t.name in optional_input_names()),
        int8=int8_declaration(ctx.model),
        opset=default_opset(ctx.model),
        ir_version=int(ctx.model.ir_version),
        provenance=read_provenance(ctx.model),
        findings=tuple(findings),
        companions=_companions(ctx, output),
    )


def _text_input(ctx: ModelContext) -> TensorInfo | None:
    named = [t for t in ctx.inputs if t.name == TEXT_INPUT]
    return named[0] if named else (ctx.inputs[0] if len(ctx.inputs) == 1 else None)


def _layout(image: TensorInfo | None) -> InputLayout | None:
    if image is None or image.rank != 4 or not image.is_static or layout_problem(image.shape):
        return None
    return InputLayout.from_shape(image.shape)


def _outputs_by_kind(ctx: ModelContext) -> dict[OutputKind, TensorInfo]:
    """The first output of each registered kind."""
    by_kind: dict[OutputKind, TensorInfo] = {}
    for t in ctx.outputs:
        kind = kind_of(ctx.parsed_outputs[t.name].kind)
        if kind is not None and OutputKind(kind.name) not in by_kind:
            by_kind[OutputKind(kind.name)] = t
    return by_kind


def _companions(ctx: ModelContext, primary: TensorInfo | None) -> tuple[tuple[OutputKind, TensorInfo], ...]:
    return tuple((kind, t) for kind, t in _outputs_by_kind(ctx).items() if t is not primary)


def _primary_output(ctx: ModelContext) -> tuple[TensorInfo | None, OutputKind]:
    by_kind = _outputs_by_kind(ctx)
    for kind in _KIND_PRIORITY:
        if kind in by_kind:
            return by_kind[kind], kind
    return (ctx.outputs[0] if ctx.outputs else None), OutputKind.UNKNOWN


def _labels(kind: ArtifactKind, parsed) -> tuple[str, ...]:
    pairs = sorted((int(k), v) for k, v in kind.class_pairs(parsed) if k.isdigit())
    return tuple(name for _, name in pairs)


def _embedding(parsed, output: TensorInfo) -> EmbeddingDecl:
    pairs = dict(parsed.pairs)
    dim = int(pairs["dim"]) if str(pairs.get("dim", "")).isdigit() else None
    if dim is None and output.shape and isinstance(output.shape[-1], int):
        dim = output.shape[-1]
    return EmbeddingDecl(dim, pairs.get("norm"), pairs.get("pool"))


def default_opset(model) -> int | None:
    return next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def int8_declaration(model) -> Int8Decl | None:
    """None for a float artifact; else its QDQ node count and the recipe it was calibrated with."""
    qdq = sum(node.op_type in QDQ_OPS for node in model.graph.node)
    stamp = _metadata(model, INT8_KEY)
    if not qdq and stamp is None:
        return None
    try:
        settings = json.loads(stamp) if stamp else None
    except json.JSONDecodeError:
        settings = {"unparsed": stamp[:200]}
    return Int8Decl(qdq, settings)


def read_provenance(model) -> dict:
    """metadata_props["nxport"] as JSON; {} when absent or not JSON (a foreign or hand-edited file)."""
    value = _metadata(model, PROVENANCE_KEY)
    try:
        data = json.loads(value) if value else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _metadata(model, key: str) -> str | None:
    return next((entry.value for entry in model.metadata_props if entry.key == key), None)


def stamp_contract(model, normalization: Normalization | None, provenance: dict) -> None:
    """What an exporter writes: normalization in graph.doc_string (C2; none for a text tower) and the
    provenance as sorted JSON in metadata_props (the same export gives the same bytes)."""
    if normalization is not None:
        model.graph.doc_string = normalization.to_doc_string()
    del model.metadata_props[:]
    set_metadata(model, PROVENANCE_KEY, provenance)


def set_metadata(model, key: str, value: dict) -> None:
    for entry in model.metadata_props:
        if entry.key == key:
            entry.value = json.dumps(value, sort_keys=True, separators=(",", ":"))
            return
    entry = model.metadata_props.add()
    entry.key = key
    entry.value = json.dumps(value, sort_keys=True, separators=(",", ":"))
