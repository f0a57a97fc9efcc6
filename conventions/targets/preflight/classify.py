"""Per node: will the target's NPU take it? Status from the profile, conditions checked on the graph."""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from nxport.conventions.targets.preflight.conditions import evaluate
from nxport.conventions.targets.preflight.graph import GraphView, op_key
from nxport.conventions.targets import FallbackPolicy, OpStatus, Precision, TargetProfile

# A Constant node holds data, no compute: every toolchain folds it into the consumer's weights.
STRUCTURAL_OPS = ("Constant",)
# Output shape set by the values of the data, not by shapes or constants.
DATA_DEPENDENT_OPS = ("NonZero", "NonMaxSuppression", "Unique", "Compress")


@dataclass(frozen=True)
class NodeStatus:
    index: int
    label: str
    op: str
    status: OpStatus  # SUPPORTED, UNSUPPORTED or UNKNOWN once conditions are evaluated
    reasons: tuple[str, ...]
    source: str
    conditional: bool = False  # unsupported because a condition failed (not by the op table)
    dynamic: bool = False  # unsupported because its output shape is data-dependent
    blocks: bool = False  # stops the build (instead of becoming a host partition)

    @property
    def on_npu(self) -> bool:
        return self.status is OpStatus.SUPPORTED


def classify(view: GraphView, profile: TargetProfile, precision: Precision) -> list[NodeStatus]:
    return [_classify_node(i, view, profile, precision) for i in range(len(view.nodes))]


def _classify_node(index: int, view: GraphView, profile: TargetProfile, precision: Precision) -> NodeStatus:
    node = view.nodes[index]
    key = op_key(node)
    label = view.labels[index]
    if key in STRUCTURAL_OPS or view.is_folded_node(index):
        return NodeStatus(index, label, key, OpStatus.SUPPORTED, (), "structural")
    rule = profile.rule_for(key)
    status = rule.status_for(precision)
    reasons: list[str] = []
    conditional = False
    whole = profile.unsupported_fails or profile.fallback is FallbackPolicy.WHOLE_MODEL
    blocks = False
    if status is OpStatus.CONDITIONAL:
        failed = [(c, r) for c in rule.conditions if (r := evaluate(c.check, node, view, c.params))]
        reasons = [r for _, r in failed]
        status = OpStatus.UNSUPPORTED if failed else OpStatus.SUPPORTED
        conditional = bool(failed)
        blocks = bool(failed) and (whole or any(c.stops_build for c, _ in failed))
    elif status is OpStatus.UNSUPPORTED:
        reasons = [rule.note or f"{key} is not supported"]
        blocks = whole
    elif status is OpStatus.UNKNOWN:
        reasons = [rule.note or "no public data"]
    body_lacks = _body_ops_lacking(node, profile, precision)
    if body_lacks and status is not OpStatus.UNSUPPORTED:
        reasons.append(f"its subgraph body runs {', '.join(body_lacks)}, which the target does not take")
        status, conditional = OpStatus.UNSUPPORTED, True
        blocks = blocks or whole
    dynamic = profile.static_shapes_required and _data_dependent(node, view)
    if dynamic:
        reasons.append("its output shape depends on the data (the target compiles static shapes only)")
        status = OpStatus.UNSUPPORTED
        blocks = blocks or whole or profile.dynamic_fails
    return NodeStatus(index, label, key, status, tuple(reasons), rule.source, conditional, dynamic, blocks)


def _body_ops_lacking(node, profile: TargetProfile, precision: Precision) -> list[str]:
    """Ops inside an If / Loop / Scan body (at any depth) that the profile marks unsupported: the toolchain
    converts the body too, so a body op it lacks counts like a top-level one."""
    lacking: list[str] = []
    for body in _bodies(node):
        for inner in body.node:
            key = op_key(inner)
            if profile.rule_for(key).status_for(precision) is OpStatus.UNSUPPORTED and key not in lacking:
                lacking.append(key)
            lacking += [k for k in _body_ops_lacking(inner, profile, precision) if k not in lacking]
    return lacking


def _bodies(node) -> list:
    graphs = []
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            graphs.append(attr.g)
        elif attr.type == onnx.AttributeProto.GRAPHS:
            graphs.extend(attr.graphs)
    return graphs


def _data_dependent(node, view: GraphView) -> bool:
    """Static inputs, non-static output: NonZero / NonMaxSuppression / Unique, or a shape computed at run time."""
    inputs = [i for i in node.input if i]
    if not inputs or not all(view.is_static(i) or view.is_constant(i) for i in inputs):
        return False  # the dynamism came from upstream: reported there (or as a dynamic graph input)
    if not any(o and view.shape(o) is not None and not view.is_static(o) for o in node.output):
        return False
    return node.op_type in DATA_DEPENDENT_OPS or any(not view.is_constant(i) for i in inputs[1:])
