"""B1-B9: the image input (image profile) and the `tokens-` input (text profile)."""

from __future__ import annotations

import onnx

from nxport.conventions.kinds.bboxes import THRESHOLD_INPUT
from nxport.conventions.checking.context import OPTIONAL_INPUTS, TEXT_INPUT, ModelContext, TensorInfo
from nxport.conventions.checking.findings import Level
from nxport.conventions.checking.registry import finding, rule

FLOAT = onnx.TensorProto.FLOAT


def _describe(t: TensorInfo) -> str:
    return f"{t.name!r} {t.dtype_name}{t.shape if t.shape is not None else '[no shape]'}"


@rule("B1")
def single_image_input(ctx: ModelContext):
    """Exactly one rank-4 image input (initializers and the optional B9 inputs aside)."""
    candidates = ctx.image_candidates
    rank4 = [t for t in candidates if t.rank == 4]
    if not candidates:
        yield finding("B1", "the model has no image input; Nx feeds exactly one rank-4 image")
    elif len(rank4) > 1:
        yield finding("B1", f"{len(rank4)} rank-4 inputs ({', '.join(_describe(t) for t in rank4)}); "
                      "Nx feeds exactly one image")
    elif not rank4:
        shown = ", ".join(_describe(t) for t in candidates)
        yield finding("B1", f"no rank-4 input (inputs: {shown}); the image input must be (1,C,H,W) or (1,H,W,C)")


@rule("B2")
def image_input_name(ctx: ModelContext):
    """The image input is named exactly `image-`."""
    image = ctx.image_input
    if image is not None and image.name != "image-":
        yield finding("B2", f"image input is named {image.name!r}; expected exactly 'image-'")


@rule("B3")
def batch_one(ctx: ModelContext):
    """Batch dimension 1 (a symbolic batch is reported by B4)."""
    image = ctx.image_input
    if image is not None and image.rank == 4 and isinstance(image.shape[0], int) and image.shape[0] != 1:
        yield finding("B3", f"input {image.name!r} has batch dimension {image.shape[0]}; expected 1 "
                      f"(shape {image.shape})")


def _dim_problems(t: TensorInfo) -> list[str]:
    if t.shape is None:
        return [f"input {t.name!r} declares no shape"]
    problems = []
    for axis, dim in enumerate(t.shape):
        if isinstance(dim, str):
            problems.append(f"input {t.name!r} dim {axis} is symbolic {dim!r}")
        elif dim is None:
            problems.append(f"input {t.name!r} dim {axis} is unknown (no value, no name)")
        elif dim <= 0:
            problems.append(f"input {t.name!r} dim {axis} is {dim}")
    return problems


@rule("B4")
def static_input_dims(ctx: ModelContext):
    """Every input dimension is static and positive."""
    for t in ctx.inputs:
        for problem in _dim_problems(t):
            yield finding("B4", f"{problem} (shape {t.shape}); every input dim must be a fixed positive integer")


@rule("B5")
def image_float32(ctx: ModelContext):
    """The image input is float32."""
    image = ctx.image_input
    if image is not None and image.elem_type != FLOAT:
        yield finding("B5", f"image input {image.name!r} is {image.dtype_name}; expected float32 "
                      "(Nx feeds float32 pixel values on the 0..255 scale)")


def layout_problem(shape: list[int]) -> str | None:
    """Why a static rank-4 shape is not an unambiguous (1,C,H,W) / (1,H,W,C) with C in {1,3}."""
    _, d1, d2, d3 = shape
    if d1 <= 3:  # Nx tools read dim 1 <= 3 as NCHW
        if d1 not in (1, 3):
            return (f"dim 1 is {d1}: Nx reads it as NCHW with C={d1} (C must be 1 or 3); "
                    f"if it is NHWC, H={d1} <= 3 is ambiguous")
        if d3 in (1, 3):
            return (f"ambiguous: Nx reads it as NCHW with C={d1} (dim 1 <= 3), but the last dim {d3} "
                    f"could be NHWC channels with H={d1}; an NHWC input needs H > 3")
        return None
    if d3 not in (1, 3):
        return f"neither NCHW (dim 1 = {d1} is not 1 or 3) nor NHWC (last dim {d3} is not 1 or 3)"
    return None


@rule("B6")
def image_layout(ctx: ModelContext):
    """Layout (1,C,H,W) or (1,H,W,C) with C in {1,3}; no shape Nx would read the wrong way."""
    image = ctx.image_input
    if image is None or image.rank != 4 or not image.is_static:
        return
    problem = layout_problem(image.shape)
    if problem:
        yield finding("B6", f"input {image.name!r} shape {image.shape}: {problem}; "
                      "allowed: (1,1|3,H,W) or (1,H,W,1|3) with H > 3")


@rule("B7")
def rgb_channels(ctx: ModelContext):
    """Channel order cannot be read from the graph; say so once (INFO)."""
    image = ctx.image_input
    if image is not None and image.rank == 4:
        yield finding("B7", "channel order cannot be verified statically: Nx feeds RGB, so a BGR-trained "
                      "network must swap channels inside the graph", level=Level.INFO)


def _optional_input_problem(t: TensorInfo, image: TensorInfo | None) -> str | None:
    if t.name == THRESHOLD_INPUT.name:
        if t.elem_type != FLOAT or t.shape != [1]:
            return f"{_describe(t)}; expected float32 [1]"
        return None
    hw = _image_hw(image)
    if t.elem_type != onnx.TensorProto.BOOL or t.rank != 2 or (hw and t.shape != list(hw)):
        expected = f"bool {list(hw)}" if hw else "bool (H, W) of the image"
        return f"{_describe(t)}; expected {expected}"
    return None


def _image_hw(image: TensorInfo | None) -> tuple[int, int] | None:
    from nxport.conventions.nx_input import InputLayout

    if image is None or image.rank != 4 or not image.is_static or layout_problem(image.shape):
        return None
    layout = InputLayout.from_shape(image.shape)
    return layout.height, layout.width


@rule("B9")
def optional_inputs(ctx: ModelContext):
    """`nms_sensitivity-` float32 [1], `mask-` bool (H,W); no other inputs."""
    image = ctx.image_input
    for t in ctx.inputs:
        if t.name in OPTIONAL_INPUTS:
            problem = _optional_input_problem(t, image)
            if problem:
                yield finding("B9", f"optional input {problem}")
        elif image is not None and t is not image and t.rank != 4:  # extra rank-4 inputs are B1's
            yield finding("B9", f"unknown input {_describe(t)}; Nx feeds only 'image-', "
                          f"{' and '.join(repr(n) for n in OPTIONAL_INPUTS)}")


# --- text profile (CLIP text tower): one `tokens-` int64 (1, L) input -----------------------------


@rule("B1", profiles=("text",))
def text_single_input(ctx: ModelContext):
    """Exactly one input (the token ids)."""
    if len(ctx.inputs) != 1:
        yield finding("B1", f"text tower has {len(ctx.inputs)} inputs ({', '.join(_describe(t) for t in ctx.inputs)}); "
                      f"expected exactly one {TEXT_INPUT!r} int64 (1, L)",
                      fix="export the text tower with only the token ids as input (attention mask computed in the graph)")


@rule("B2", profiles=("text",))
def text_input_name(ctx: ModelContext):
    """The one input is named `tokens-` (with several inputs, B1 speaks)."""
    if len(ctx.inputs) == 1 and ctx.inputs[0].name != TEXT_INPUT:
        yield finding("B2", f"text input is named {ctx.inputs[0].name!r}; expected {TEXT_INPUT!r}",
                      fix=f"export with input_names=[{TEXT_INPUT!r}]")


@rule("B4", profiles=("text",))
def text_tokens_shape(ctx: ModelContext):
    """`tokens-` is (1, L) with L static."""
    for t in ctx.inputs:
        problems = _dim_problems(t)
        for problem in problems:
            yield finding("B4", f"{problem} (shape {t.shape}); expected static (1, context_length)")
        if not problems and (t.rank != 2 or t.shape[0] != 1):
            yield finding("B4", f"input {_describe(t)}; expected shape (1, context_length)")


@rule("B5", profiles=("text",))
def text_tokens_dtype(ctx: ModelContext):
    """`tokens-` is int64."""
    for t in ctx.inputs:
        if t.elem_type != onnx.TensorProto.INT64:
            yield finding("B5", f"text input {t.name!r} is {t.dtype_name}; expected int64 token ids",
                          fix="export with int64 token ids (torch.long) as the dummy input")
