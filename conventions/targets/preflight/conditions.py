"""Conditions a profile attaches to a `conditional` op, checkable on the shape-inferred graph.

Registry keyed by the check's own name (`@condition("attr_in")`). A check takes the node, the graph view
and the profile's parameters, and returns None when the node satisfies it, else the reason (one short
sentence naming the value found and the value the toolchain needs). When the graph does not carry the
information (an unknown shape, a non-constant input the check needs) the check passes: the preflight
reports what it can prove, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx

from nxport.conventions.targets.preflight.graph import GraphView
from nxport.conventions.targets import ProfileError, TargetProfile

CheckFn = Callable[..., str | None]
_CHECKS: dict[str, CheckFn] = {}


def condition(name: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        if name in _CHECKS:
            raise ValueError(f"condition {name!r} registered twice")
        _CHECKS[name] = fn
        return fn

    return register


def list_conditions() -> list[str]:
    return sorted(_CHECKS)


def evaluate(check: str, node: onnx.NodeProto, view: GraphView, params: dict) -> str | None:
    return _CHECKS[check](node, view, **params)


def validate_conditions(profile: TargetProfile) -> None:
    """Every condition of the profile names a registered check with parameters it accepts."""
    import inspect

    for rule in profile.ops.values():
        for cond in rule.conditions:
            if cond.check not in _CHECKS:
                raise ProfileError(profile.path, f"ops.{rule.op}: unknown condition {cond.check!r}; "
                                                 f"known: {', '.join(list_conditions())}")
            try:
                inspect.signature(_CHECKS[cond.check]).bind(None, None, **cond.params)
            except TypeError as exc:
                raise ProfileError(profile.path, f"ops.{rule.op}: condition {cond.check!r}: {exc}") from exc


def _attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            value = onnx.helper.get_attribute_value(a)
            if isinstance(value, bytes):
                return value.decode()
            if isinstance(value, list):
                return [v.decode() if isinstance(v, bytes) else v for v in value]
            return value
    return default


def _input(node: onnx.NodeProto, index: int) -> str | None:
    return node.input[index] if index < len(node.input) and node.input[index] else None


@condition("attr_in")
def attr_in(node, view, attr: str, values: list, default=None) -> str | None:
    value = _attr(node, attr, default)
    if value is None or value in values:
        return None
    return f"{attr}={value!r}, needs one of {values}"


@condition("attr_absent")
def attr_absent(node, view, attr: str) -> str | None:
    value = _attr(node, attr)
    return None if value is None else f"{attr}={value!r} is set, the toolchain takes the op only without it"


@condition("input_absent")
def input_absent(node, view, inputs: list) -> str | None:
    given = [i for i in inputs if _input(node, i)]
    return f"optional input(s) {given} given, the toolchain takes the op only without them" if given else None


@condition("input_type_not")
def input_type_not(node, view, input: int, types: list) -> str | None:
    """Input `input` is none of `types` (onnx.TensorProto names, e.g. "STRING")."""
    elem = view.dtypes.get(_input(node, input) or "")
    name = onnx.TensorProto.DataType.Name(elem) if elem else None
    return f"input {input} is {name}, the toolchain does not take {types}" if name in types else None


@condition("per_channel_axis_in")
def per_channel_axis_in(node, view, axes: list) -> str | None:
    scale = view.value(_input(node, 1) or "")
    if scale is None or scale.size <= 1:
        return None  # per-tensor: the axis is not used
    axis = _attr(node, "axis", 1)
    return None if axis in axes else f"per-channel axis={axis}, needs axis in {axes}"


@condition("input_constant")
def input_constant(node, view, inputs: list) -> str | None:
    variable = [i for i in inputs if _input(node, i) and not view.is_constant(_input(node, i))]
    return f"input(s) {variable} must be constant (initializer), found computed at run time" if variable else None


@condition("input_variable")
def input_variable(node, view, inputs: list) -> str | None:
    constant = [i for i in inputs if _input(node, i) and view.is_constant(_input(node, i))]
    return f"input(s) {constant} must not be constant (e.g. an embedding table lookup)" if constant else None


@condition("min_inputs")
def min_inputs(node, view, min: int) -> str | None:
    count = sum(1 for i in node.input if i)
    return None if count >= min else f"{count} inputs, needs {min}"


@condition("max_inputs")
def max_inputs(node, view, max: int) -> str | None:
    count = sum(1 for i in node.input if i)
    return None if count <= max else f"{count} inputs, at most {max}"


@condition("batch_one")
def batch_one(node, view, input: int) -> str | None:
    shape = view.shape(_input(node, input) or "")
    if not shape or not isinstance(shape[0], int):
        return None
    return None if shape[0] == 1 else f"batch (dim 0) is {shape[0]}, needs 1"


@condition("rank_in")
def rank_in(node, view, input: int, ranks: list) -> str | None:
    rank = view.rank(_input(node, input) or "")
    return None if rank is None or rank in ranks else f"input rank {rank}, needs rank in {ranks}"


@condition("max_rank")
def max_rank(node, view, input: int, max: int) -> str | None:
    rank = view.rank(_input(node, input) or "")
    return None if rank is None or rank <= max else f"input {input} rank {rank}, at most {max}"


@condition("min_rank")
def min_rank(node, view, input: int, min: int) -> str | None:
    rank = view.rank(_input(node, input) or "")
    return None if rank is None or rank >= min else f"input {input} rank {rank}, at least {min}"


@condition("max_output_rank")
def max_output_rank(node, view, max: int) -> str | None:
    rank = view.rank(node.output[0])
    return None if rank is None or rank <= max else f"output rank {rank}, at most {max}"


@condition("max_nonsingleton_dims")
def max_nonsingleton_dims(node, view, input: int, max: int) -> str | None:
    shape = view.shape(_input(node, input) or "")
    if shape is None:
        return None
    count = sum(1 for d in shape if d != 1)  # symbolic dims count: they are not provably 1
    return None if count <= max else f"{count} non-singleton input dims {shape}, at most {max}"


@condition("max_size")
def max_size(node, view, input: int, max: int) -> str | None:
    value = view.value(_input(node, input) or "")
    return None if value is None or value.size <= max else f"input {input} has {value.size} elements, at most {max}"


@condition("max_plane")
def max_plane(node, view, input: int, max: int) -> str | None:
    shape = view.shape(_input(node, input) or "")
    if not shape or len(shape) < 3 or not all(isinstance(d, int) for d in shape[2:]):
        return None
    plane = int(np.prod(shape[2:]))
    return None if plane <= max else f"plane size {plane} ({'x'.join(map(str, shape[2:]))}), at most {max}"


@condition("axis_in")
def axis_in(node, view, input: int, axes: list, default=None) -> str | None:
    """The op's `axis` (normalized to a negative index) must be one of `axes` (negative indices)."""
    rank = view.rank(_input(node, input) or "")
    axis = _attr(node, "axis", default)
    if axis is None and node.op_type.startswith("Reduce"):
        return None
    if rank is None or axis is None:
        return None
    negative = axis - rank if axis >= 0 else axis
    return None if negative in axes else f"axis {axis} (= {negative} of rank {rank}), needs one of {axes}"


@condition("equal_strides")
def equal_strides(node, view) -> str | None:
    strides = _attr(node, "strides")
    return None if not strides or len(set(strides)) == 1 else f"strides {strides} differ, needs equal strides"


@condition("depthwise_kernels")
def depthwise_kernels(node, view, allowed: list) -> str | None:
    group = _attr(node, "group", 1)
    weight = view.shape(_input(node, 1) or "")
    if group == 1 or not weight or len(weight) != 4 or weight[1] != 1:
        return None  # not a fully grouped (depthwise) convolution
    strides = _attr(node, "strides", [1, 1])
    form = f"{weight[2]}x{weight[3]}s{strides[0]}"
    return None if form in allowed else f"depthwise {form}, needs one of {allowed}"


@condition("constant_nonnegative")
def constant_nonnegative(node, view, input: int) -> str | None:
    value = view.value(_input(node, input) or "")
    return None if value is None or (value >= 0).all() else "negative indices, needs indices >= 0"


@condition("clip_range")
def clip_range(node, view) -> str | None:
    low, high = (view.value(_input(node, i) or "") for i in (1, 2))
    low = _attr(node, "min", None) if low is None and len(node.input) < 2 else low
    high = _attr(node, "max", None) if high is None and len(node.input) < 3 else high
    if low is not None and float(np.asarray(low).max()) > 0:
        return f"min={float(np.asarray(low).max())}, needs min <= 0"
    if high is not None and float(np.asarray(high).min()) <= 0:
        return f"max={float(np.asarray(high).min())}, needs max > 0"
    return None


@condition("resize_scales")
def resize_scales(node, view, power_of_two: bool, equal_hw: bool, min_scale: float) -> str | None:
    inp, out = view.shape(node.input[0]), view.shape(node.output[0])
    if not inp or not out or len(inp) != 4 or not all(isinstance(d, int) and d > 0 for d in inp[2:] + out[2:]):
        return None
    scales = [out[2] / inp[2], out[3] / inp[3]]
    if min(scales) < min_scale:
        return f"scales {scales} < {min_scale} (downscaling)"
    if equal_hw and scales[0] != scales[1]:
        return f"height scale {scales[0]} != width scale {scales[1]}"
    if power_of_two and not all(float(s).is_integer() and (int(s) & (int(s) - 1)) == 0 for s in scales):
        return f"scales {scales} are not powers of two"
    return None


@condition("terminal_only")
def terminal_only(node, view) -> str | None:
    at_input = node.input[0] in view.graph_inputs
    at_output = any(o in view.graph_outputs for o in node.output)
    return None if at_input or at_output else "inside the network, allowed only at a graph input or output"


@condition("gelu_pattern")
def gelu_pattern(node, view) -> str | None:
    """Erf inside x * 0.5 * (1 + erf(x / sqrt 2)): fed by Div/Mul, feeding an Add."""
    feeder = view.producer.get(node.input[0])
    fed_by_scale = feeder is not None and view.nodes[feeder].op_type in ("Div", "Mul")
    feeds_add = any(view.nodes[i].op_type == "Add" for i in view.consumers.get(node.output[0], []))
    return None if fed_by_scale and feeds_add else "a standalone Erf (supported only inside the fused GELU pattern)"


@condition("never")
def never(node, view, reason: str) -> str | None:
    return reason
