"""A1-A6: file, versions, operators. Apply to every profile."""

from __future__ import annotations

from collections import Counter

import onnx

from nxport.conventions import spec
from nxport.conventions.checking.context import DEFAULT_DOMAINS, ModelContext, iter_nodes
from nxport.conventions.checking.findings import Level
from nxport.conventions.checking.registry import finding, rule

BOTH = ("image", "text")


def default_opset(model: onnx.ModelProto) -> int | None:
    versions = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    return max(versions) if versions else None


@rule("A1", profiles=BOTH)
def opset_version(ctx: ModelContext):
    """Default-domain opset <= 18 (MUST), <= 17 (SHOULD)."""
    cap, tested = spec.limit("opset_max"), spec.limit("opset_tested")
    opset = default_opset(ctx.model)
    if opset is None:
        domains = [o.domain for o in ctx.model.opset_import] or ["none"]
        yield finding("A1", f"no default-domain ('' / 'ai.onnx') opset import (imports: {', '.join(domains)}); "
                      f"allowed: {tested}..{cap}")
    elif opset > cap:
        yield finding("A1", f"default-domain opset is {opset}; the cap is {cap} (Nx tests up to {tested})")
    elif opset > tested:
        yield finding("A1", f"default-domain opset is {opset}; allowed up to {cap} but Nx tests up to {tested}",
                      level=Level.SHOULD)


@rule("A2", profiles=BOTH)
def ir_version(ctx: ModelContext):
    """ir_version <= 9."""
    cap = spec.limit("ir_version_max")
    if ctx.model.ir_version > cap:
        yield finding("A2", f"ir_version is {ctx.model.ir_version}; allowed <= {cap} "
                      "(onnxruntime 1.17, the runtime Nx names, rejects IR 10)")


@rule("A3", profiles=BOTH)
def onnx_checker(ctx: ModelContext):
    """onnx.checker.check_model(full_check=True) passes."""
    # By path when we have one: external-data tensors resolve relative to the file, and
    # models over 2 GB cannot be checked from memory at all.
    target = ctx.path if ctx.path is not None else ctx.model
    try:
        onnx.checker.check_model(target, full_check=True)
    except Exception as exc:  # ValidationError, InferenceError, ValueError (> 2 GB): all mean "invalid"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        yield finding("A3", f"onnx.checker.check_model(full_check=True) fails: {first_line[:400]}")


@rule("A4", profiles=BOTH)
def default_domain_ops(ctx: ModelContext):
    """Only default-domain operators, searched through subgraphs and local functions."""
    custom = Counter()
    for node, where in iter_nodes(ctx.model):
        if node.domain not in DEFAULT_DOMAINS:
            custom[(node.domain, node.op_type, where)] += 1
    for (domain, op, where), count in sorted(custom.items()):
        fix = None
        if any(f.name == op and f.domain == domain for f in ctx.model.functions):
            fix = "inline local functions with onnx.inliner.inline_local_functions(model) before saving"
        yield finding("A4", f"operator {op!r} of domain {domain!r} ({count}x, in {where}); "
                      "allowed: the default ONNX domain ('' / 'ai.onnx') only", fix=fix)


def _external_location(tensor: onnx.TensorProto) -> str:
    return next((e.value for e in tensor.external_data if e.key == "location"), "?")


def _tensor_bytes(tensor: onnx.TensorProto) -> int:
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return int(next((e.value for e in tensor.external_data if e.key == "length"), 0) or 0)
    return tensor.ByteSize()


@rule("A5", profiles=BOTH)
def single_file(ctx: ModelContext):
    """No external-data tensors; note models whose weights exceed the 2 GB protobuf limit."""
    tensors = list(ctx.model.graph.initializer)
    external = [t for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        files = sorted({_external_location(t) for t in external})
        yield finding("A5", f"{len(external)} of {len(tensors)} initializers live in external data file(s) "
                      f"{', '.join(files)} next to the model; Nx expects one self-contained .onnx file")
    total = sum(_tensor_bytes(t) for t in tensors)
    if total > spec.limit("single_file_bytes"):
        yield finding("A5", f"weights total {total / 2**30:.2f} GiB, over the 2 GiB protobuf limit: "
                      "a single-file artifact is impossible", level=Level.INFO,
                      fix="shrink the model (fp16 weights or quantization, rule F3) or ship external data knowingly")


@rule("A6", profiles=BOTH)
def legacy_whitelist(ctx: ModelContext):
    """Default-domain ops outside the stale sclblonnx whitelist (INFO only)."""
    whitelist = spec.sclblonnx_ops()
    outside = sorted({n.op_type for n, _ in iter_nodes(ctx.model)
                      if n.domain in DEFAULT_DOMAINS and n.op_type not in whitelist})
    if outside:
        yield finding("A6", f"ops outside the legacy sclblonnx whitelist ({len(whitelist)} ops): "
                      f"{', '.join(outside)}; current Nx is not known to need this list")


CONTROL_FLOW_OPS = ("If", "Loop", "Scan")


@rule("F2", profiles=("image",))
def npu_preflight(ctx: ModelContext):
    """Control flow, and which NPU target profiles take it (INFO)."""
    control = sorted({n.op_type for n, _ in iter_nodes(ctx.model)
                      if n.op_type in CONTROL_FLOW_OPS and n.domain in DEFAULT_DOMAINS})
    if control:
        yield finding("F2", f"control-flow ops {', '.join(control)}: CPU/GPU runtimes are fine; "
                      f"{control_flow_by_target(ctx.model, control)} (`--target NAME` gives a target's verdict)")


def control_flow_by_target(model: onnx.ModelProto, ops: list[str]) -> str:
    """What each NPU profile says about `ops`, read from the same tables the preflight's verdicts use,
    so this note and a `--target` verdict cannot disagree."""
    from nxport.conventions.targets import OpStatus, Precision, list_targets, load_profile

    int8 = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)
    precision = Precision.INT8 if int8 else Precision.FP32
    groups: dict[OpStatus, list[str]] = {}
    for target in list_targets():
        profile = load_profile(target)
        statuses = {op: profile.rule_for(op).status_for(precision) for op in ops}
        worst = next(s for s in (OpStatus.UNSUPPORTED, OpStatus.CONDITIONAL, OpStatus.UNKNOWN, OpStatus.SUPPORTED)
                     if s in statuses.values() or s is OpStatus.SUPPORTED)
        rejected = [op for op, s in statuses.items() if s is worst]
        groups.setdefault(worst, []).append(target if len(rejected) == len(ops) else f"{target} ({', '.join(rejected)})")
    words = {OpStatus.UNSUPPORTED: "off the NPU on", OpStatus.CONDITIONAL: "on the NPU only under conditions on",
             OpStatus.UNKNOWN: "no public data for", OpStatus.SUPPORTED: "on the NPU on"}
    return "; ".join(f"{words[s]} {', '.join(groups[s])}" for s in words if s in groups)
