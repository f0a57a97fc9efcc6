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


class OutputKind(str, Enum):
    SCORES = "scores"
    BBOXES = "bboxes"
    ALARM = "alarm"
    EMBEDDING = "embedding"
    UNKNOWN = "unknown"


_KNOWN_KINDS = frozenset(k.value for k in OutputKind if k is not OutputKind.UNKNOWN)
# The output a consumer serves or measures when a graph has several: Nx post-processing first.
_KIND_PRIORITY = (OutputKind.SCORES, OutputKind.BBOXES, OutputKind.EMBEDDING, OutputKind.ALARM)


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
    return Contract(
        source=loaded.label,
        profile=Profile(ctx.profile),
        input=chosen,
        layout=None if text else _layout(chosen),
        normalization=None if text else ctx.normalization,
        output=output,
        kind=kind,
        labels=_labels(parsed) if kind in (OutputKind.SCORES, OutputKind.BBOXES, OutputKind.ALARM) else (),
        embedding=_embedding(parsed, output) if kind is OutputKind.EMBEDDING else None,
        optional_inputs=tuple(t for t in ctx.inputs if t.name in ("nms_sensitivity-", "mask-")),
        int8=int8_declaration(ctx.model),
        opset=default_opset(ctx.model),
        ir_version=int(ctx.model.ir_version),
        provenance=read_provenance(ctx.model),
        findings=tuple(findings),
    )


def _text_input(ctx: ModelContext) -> TensorInfo | None:
    named = [t for t in ctx.inputs if t.name == TEXT_INPUT]
    return named[0] if named else (ctx.inputs[0] if len(ctx.inputs) == 1 else None)


def _layout(image: TensorInfo | None) -> InputLayout | None:
    if image is None or image.rank != 4 or not image.is_static or layout_problem(image.shape):
        return None
    return InputLayout.from_shape(image.shape)


def _primary_output(ctx: ModelContext) -> tuple[TensorInfo | None, OutputKind]:
    by_kind = {}
    for t in ctx.outputs:
        kind = ctx.parsed_outputs[t.name].kind
        if kind in _KNOWN_KINDS and OutputKind(kind) not in by_kind:
            by_kind[OutputKind(kind)] = t
    for kind in _KIND_PRIORITY:
        if kind in by_kind:
            return by_kind[kind], kind
    return (ctx.outputs[0] if ctx.outputs else None), OutputKind.UNKNOWN


def _labels(parsed) -> tuple[str, ...]:
    pairs = sorted((int(k), v) for k, v in parsed.class_pairs() if k.isdigit())
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
