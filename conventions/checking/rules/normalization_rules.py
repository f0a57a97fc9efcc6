"""C2-C3: the normalization JSON in graph.doc_string (image profile)."""

from __future__ import annotations

import math

from nxport.conventions import spec
from nxport.conventions.checking.context import ModelContext
from nxport.conventions.normalization import DocStringError, parse_doc_string
from nxport.conventions.nx_input import InputLayout
from nxport.conventions.checking.registry import finding, rule
from nxport.conventions.checking.rules.input_rules import layout_problem


@rule("C2")
def doc_string_json(ctx: ModelContext):
    """graph.doc_string (the GraphProto's) holds {"means": [...], "vars": [...]}."""
    if ctx.doc_error is None:
        return
    fix = None
    if len(ctx.model.doc_string) <= spec.limit("doc_string_bytes_max") and _parses(ctx.model.doc_string):
        # The usual slip: torch/onnx writers put doc strings on the ModelProto.
        fix = ("the JSON is in ModelProto.doc_string, where Nx does not look: copy it with "
               "model.graph.doc_string = model.doc_string")
    yield finding("C2", f"{ctx.doc_error}; expected graph.doc_string = "
                  '{"means": [r, g, b], "vars": [r, g, b]} on the 0..255 scale', fix=fix)


def _parses(doc_string: str) -> bool:
    try:
        parse_doc_string(doc_string)
    except DocStringError:
        return False
    return True


def _channels(ctx: ModelContext) -> int | None:
    image = ctx.image_input
    if image is None or image.rank != 4 or not image.is_static or layout_problem(image.shape):
        return None
    return InputLayout.from_shape(image.shape).channels


def _fmt(values) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


@rule("C3")
def normalization_values(ctx: ModelContext):
    """One mean/std per channel, std > 0, on the 0..255 scale."""
    norm = ctx.normalization
    if norm is None:
        return  # C2 already reported the missing / invalid JSON
    channels = _channels(ctx)
    for key, values in (("means", norm.means), ("vars", norm.vars)):
        if channels is not None and len(values) != channels:
            yield finding("C3", f"{key} has {len(values)} values {_fmt(values)} for a {channels}-channel input; "
                          f"expected one per channel ({channels})")
    non_finite = [(key, v) for key, values in (("means", norm.means), ("vars", norm.vars)) for v in values
                  if not math.isfinite(v)]
    if non_finite:  # JSON allows NaN, Infinity and 1e999; the runtime would zero or poison a channel
        listed = ", ".join(f"{key} {v:g}" for key, v in non_finite)
        yield finding("C3", f"means {_fmt(norm.means)} / vars {_fmt(norm.vars)} contain non-finite values ({listed}); "
                      "every value must be a finite number",
                      fix="write finite numbers on the 0..255 scale (ImageNet: means [123.675, 116.28, 103.53], "
                      "vars [58.395, 57.12, 57.375]); JSON NaN/Infinity/1e999 are never valid here")
        return
    bad_std = [v for v in norm.vars if v <= 0]
    if bad_std:
        yield finding("C3", f"vars {_fmt(norm.vars)} contains {_fmt(bad_std)}; every std must be > 0 "
                      "(the runtime divides by it)",
                      fix="put the training std of each channel on the 0..255 scale in vars (ImageNet: "
                      "[58.395, 57.12, 57.375]); use [1, 1, 1] when the graph normalizes its own input")
    is_identity = all(m == 0 for m in norm.means) and all(v == 1 for v in norm.vars)
    if not is_identity and all(m <= 1 for m in norm.means) and all(v <= 1 for v in norm.vars):
        scaled_means = _fmt(round(m * 255, 6) for m in norm.means)
        scaled_vars = _fmt(round(v * 255, 6) for v in norm.vars)
        yield finding("C3", f"means {_fmt(norm.means)} / vars {_fmt(norm.vars)} look like the 0..1 scale; "
                      "Nx feeds 0..255 pixel values",
                      fix=f"multiply by 255: means {scaled_means}, vars {scaled_vars}")
