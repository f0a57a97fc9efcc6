"""The onnxruntime stage: load the artifact, feed a real photo the Nx way, check what comes out.

Static rules read declarations; this stage checks the numbers the post-processing will see:
declared shapes hold (D2/D3/D4/D5, else A3), values are finite, scores are probabilities that
sum to 1 unless the head is a Sigmoid (D2), `norm:l2` embeddings have unit length (D5), and two
runs agree (A3). Only a feed Nx itself would send is judged: a model without one image input Nx can
fill (batch 1, an Nx layout) or with inputs Nx never feeds runs on zeros, and what that run shows is
reported as INFO, naming what was fed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from nxport.conventions.checking.context import TEXT_INPUT, ModelContext, TensorInfo
from nxport.conventions.checking.findings import Finding, Level
from nxport.conventions.kinds import all_kinds, input_kind, kind_of, optional_input
from nxport.conventions.normalization import Normalization
from nxport.conventions.nx_input import InputLayout, nx_preprocess
from nxport.conventions.checking.registry import producer
from nxport.conventions.checking.rules.input_rules import layout_problem

# Ops that do not change values: a Sigmoid behind them still makes a multi-label head.
PASS_THROUGH_OPS = {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Cast"}
RUNTIME = producer("onnxruntime stage", ("A3", *sorted(kind.rule_id for kind in all_kinds())),
                   "runs the model on a real photo: loads, runs twice alike, outputs match their declarations")
RUNTIME_RULES = list(RUNTIME.rule_ids)
REAL_INPUT, SYNTHETIC = "a real input", "the synthetic feed"
SYNTHETIC_FIX = {
    "image": "give the model one image input 'image-' float32 (1,3,H,W) (rules B1-B6) so the checker feeds it a "
             "real photo; run it with your own inputs to test its numbers",
    "text": f"give the text tower one input {TEXT_INPUT!r} int64 (1, L) (rules B1-B5) so the checker feeds it "
            "real token ids; run it with your own inputs to test its numbers",
}


@dataclass(frozen=True)
class RunEvidence:
    """Outputs of a run someone else already did on this exact graph (an exporter's one verification
    pass): the runtime stage checks them instead of opening a second session on the same bytes."""

    feeds: dict[str, np.ndarray]
    first: dict[str, np.ndarray]  # output name -> value
    second: list[np.ndarray]  # the same feeds run again, in output order (determinism, A3)
    label: str  # what was fed, e.g. "parity photo chelsea"
    seconds: float = 0.0


@dataclass
class RuntimeResult:
    findings: list[Finding] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    # What the reference-runtime stage compares against (kept out of the report).
    feeds: dict = field(default_factory=dict, repr=False)
    outputs: dict = field(default_factory=dict, repr=False)


def resolve_image(image) -> tuple[object, str]:
    """None -> the real photo shipped with nxport; a path -> decoded upright RGB; arrays/PIL as is."""
    if image is None:
        from nxport.core.images import chelsea

        return chelsea(), "nxport.core.images.chelsea()"
    if isinstance(image, (str, Path)):
        from nxport.core.images import load_image

        return load_image(image), str(image)  # ImageDecodeError names the file: a user error, not a finding
    if isinstance(image, np.ndarray):
        return image, f"array {image.shape} {image.dtype}"
    return image, f"{type(image).__name__} image"


def _np_dtype(t: TensorInfo):
    return onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)


def _image_feed(ctx: ModelContext, t: TensorInfo, rgb) -> np.ndarray | str:
    """The photo as Nx feeds it to `t`, or why Nx could not feed a frame to this declaration."""
    if t.rank != 4 or layout_problem(t.shape):
        return f"{t.shape} is not an Nx image layout (B1/B6)"
    if t.shape[0] != 1:
        return f"it declares batch {t.shape[0]} and Nx feeds one frame (B3)"
    layout = InputLayout.from_shape(t.shape)
    # An invalid doc_string is C2's finding; the run still tells whether the outputs behave.
    norm = ctx.normalization
    if norm is None or len(norm.means) != layout.channels or len(norm.vars) != layout.channels:
        norm = Normalization.identity(layout.channels)
    with np.errstate(divide="ignore", invalid="ignore"):  # vars of 0 are C3's finding
        return nx_preprocess(rgb, layout, norm).astype(_np_dtype(t))


@dataclass
class Feeds:
    """What the stage feeds. `synthetic` names every input that gets something Nx would not feed
    (zeros): outputs computed from such a feed say nothing about the model as Nx runs it."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    synthetic: dict[str, list[str]] = field(default_factory=dict)  # why -> the inputs fed zeros for it
    unfeedable: str | None = None  # why nothing can be fed at all

    def describe(self) -> str:
        return "; ".join(f"zeros for {', '.join(inputs)}: {why}" for why, inputs in self.synthetic.items())


def _no_image_reason(ctx: ModelContext) -> str:
    if ctx.profile == "text":
        return f"not the {TEXT_INPUT!r} token input"
    return "no single rank-4 image input to feed the photo to (B1)" if ctx.image_input is None else \
        "an input Nx never feeds (B9)"


def build_feeds(ctx: ModelContext, rgb) -> Feeds:
    """Inputs as Nx would feed them; zeros (marked synthetic) where Nx would feed nothing."""
    feeds = Feeds()
    for t in ctx.inputs:
        if t.elem_type == 0 or not t.is_static:
            return Feeds(unfeedable=f"input {t.name!r} has no static shape/type ({t.dtype_name} {t.shape}; B4)")
        value: np.ndarray | str
        tokens, optional = input_kind(t.name), optional_input(t.name)
        if ctx.profile == "text" and tokens is not None and tokens.profile == "text" and t.rank == 2 and t.shape[0] == 1:
            value = tokens.default_feed(tuple(t.shape), _np_dtype(t))
        elif ctx.profile == "image" and t is ctx.image_input:
            value = _image_feed(ctx, t, rgb)
            if isinstance(value, str):
                value = f"the photo does not fit: {value}"
        elif optional is not None:
            value = optional.default_feed(tuple(t.shape), _np_dtype(t))
        else:
            value = _no_image_reason(ctx)
        if isinstance(value, str):
            feeds.synthetic.setdefault(value, []).append(f"{t.name!r} {t.dtype_name}{t.shape}")
            value = np.zeros(t.shape, dtype=_np_dtype(t))
        feeds.values[t.name] = value
    return feeds


def _session(ctx: ModelContext):
    from nxport.core.sessions import cpu_session

    return cpu_session(ctx.path if ctx.path is not None else ctx.model.SerializeToString(), threads=1)


def _error_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:400] if text else ''}"


def run(ctx: ModelContext, image=None, evidence: RunEvidence | None = None) -> RuntimeResult:
    if evidence is not None:
        return check_evidence(ctx, evidence)
    result = RuntimeResult()
    try:
        import onnxruntime as ort
    except ImportError:
        result.findings.append(RUNTIME.finding("A3", "runtime checks skipped: onnxruntime is not installed", level=Level.INFO,
                                       fix="pip install onnxruntime, or pass runtime=False / --no-runtime"))
        return result
    rgb, label = resolve_image(image) if ctx.profile == "image" else (None, "token ids")
    result.info.update(onnxruntime=ort.__version__, provider="CPUExecutionProvider", input_source=label)
    started = time.perf_counter()
    try:
        session = _session(ctx)
    except Exception as exc:  # ORT raises Fail/InvalidGraph/NotImplemented...: all mean "does not load"
        result.findings.append(RUNTIME.finding("A3", f"onnxruntime {ort.__version__} cannot load the model: {_error_line(exc)}"))
        return result
    result.info["seconds"] = {"load": round(time.perf_counter() - started, 4)}
    feeds = build_feeds(ctx, rgb)
    if feeds.unfeedable:
        result.info["skipped"] = feeds.unfeedable
        result.findings.append(RUNTIME.finding("A3", f"onnxruntime run skipped: {feeds.unfeedable}", level=Level.INFO,
                                       fix="fix the input findings above; the run then checks the outputs too"))
        return result
    result.info["inputs"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in feeds.values.items()}
    if feeds.synthetic:
        result.info["synthetic_feed"] = feeds.describe()
        _synthetic_run(ctx, session, feeds, result)
        return result
    result.feeds = feeds.values
    _run_twice(ctx, session, feeds.values, label, result)
    return result


def _synthetic_run(ctx: ModelContext, session, feeds: Feeds, result: RuntimeResult) -> None:
    """Run on zeros only to learn whether the model executes; whatever the outputs show is the feed's
    doing as much as the model's, so it is reported as what happened (INFO), never as a MUST."""
    observed = RuntimeResult(info={"seconds": {}})
    _run_twice(ctx, session, feeds.values, SYNTHETIC, observed, probe_detector=False)
    result.info.update({k: v for k, v in observed.info.items() if k != "seconds"})
    result.info["seconds"].update(observed.info["seconds"])
    seen = [f"{f.rule_id}: {f.message}" for f in observed.findings]
    outcome = ("what it showed: " + "; ".join(seen[:3]) + (f" (+{len(seen) - 3} more)" if len(seen) > 3 else "")
               if seen else "it ran, and its tensor outputs matched their declarations")
    result.findings.append(RUNTIME.finding(
        "A3", f"Nx cannot feed this model, so onnxruntime ran it on a synthetic feed ({feeds.describe()}); "
              f"not judged against the conventions: {outcome}", level=Level.INFO,
        fix=SYNTHETIC_FIX[ctx.profile]))


def _run_twice(ctx: ModelContext, session, feeds: dict, label: str, result: RuntimeResult,
               probe_detector: bool = True) -> None:
    started = time.perf_counter()
    try:
        first = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
        second = session.run(None, feeds)
    except Exception as exc:  # a model that loads but fails on a real input is not deployable
        result.findings.append(RUNTIME.finding("A3", f"onnxruntime fails to run the model on {label}: {_error_line(exc)}"))
        return
    result.info["seconds"]["two_runs"] = round(time.perf_counter() - started, 4)
    result.info["outputs"] = {name: _stats(value) for name, value in first.items()}
    # Sequence and optional outputs come back as lists / None: the checks read tensors (D0 names the rest).
    tensors = {name: value for name, value in first.items() if isinstance(value, np.ndarray)}
    again = [value for name, value in zip(first, second) if name in tensors]
    result.outputs = tensors if len(tensors) == len(first) else {}  # the reference stage compares all or none
    result.findings.extend(_determinism(tensors, again))
    result.findings.extend(check_outputs(ctx, tensors, label if label == SYNTHETIC else REAL_INPUT))
    if probe_detector and ctx.outputs_of_kind("bboxes"):  # detectors: threshold sweep, mask and row checks
        from nxport.conventions.checking.detection_runtime import probe

        result.info["detection"] = {}
        result.findings.extend(probe(ctx, session, feeds, result.info["detection"]))


def check_evidence(ctx: ModelContext, evidence: RunEvidence) -> RuntimeResult:
    """The runtime checks on outputs an exporter's verification pass already computed."""
    import onnxruntime as ort

    result = RuntimeResult(info={"onnxruntime": ort.__version__, "provider": "CPUExecutionProvider",
                                 "input_source": evidence.label, "reused_run": True,
                                 "seconds": {"two_runs": round(evidence.seconds, 4)}})
    result.info["inputs"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in evidence.feeds.items()}
    result.info["outputs"] = {name: _stats(value) for name, value in evidence.first.items()}
    result.findings.extend(_determinism(evidence.first, evidence.second))
    result.findings.extend(check_outputs(ctx, evidence.first))
    return result


def _stats(value) -> dict:
    if not isinstance(value, np.ndarray):
        return {"type": type(value).__name__, **({"length": len(value)} if isinstance(value, list) else {})}
    stats = {"shape": list(value.shape), "dtype": str(value.dtype)}
    if value.size and (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
        as_float = value.astype(np.float64)
        finite = as_float[np.isfinite(as_float)]
        # NaN is not valid JSON: report the finite range and count the rest.
        stats["non_finite"] = int(as_float.size - finite.size)
        if finite.size:
            stats.update(min=float(finite.min()), max=float(finite.max()), sum=float(finite.sum()))
    return stats


def _determinism(first: dict[str, np.ndarray], second: list[np.ndarray]):
    for (name, a), b in zip(first.items(), second):
        if a.shape != b.shape or not np.array_equal(a, b, equal_nan=np.issubdtype(a.dtype, np.floating)):
            yield RUNTIME.finding("A3", f"output {name[:60]!r} differs between two identical runs; the artifact must be "
                          "deterministic", fix="remove random ops (Dropout in training mode, RandomNormal...) from the graph")


def producer_op(model: onnx.ModelProto, output: str) -> str | None:
    """The op that computes `output`, looking through ops that do not change values."""
    producers = {out: node for node in model.graph.node for out in node.output}
    node = producers.get(output)
    while node is not None and node.op_type in PASS_THROUGH_OPS and node.input:
        node = producers.get(node.input[0])
    return node.op_type if node is not None else None


def check_outputs(ctx: ModelContext, values: dict[str, np.ndarray], fed: str = REAL_INPUT) -> list[Finding]:
    findings: list[Finding] = []
    for t in ctx.outputs:
        if t.name not in values:
            continue
        value, kind = values[t.name], kind_of(ctx.parsed_outputs[t.name].kind)
        rule_id = kind.rule_id if kind is not None else "A3"
        findings.extend(_declared_shape(t, value, rule_id))
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            findings.append(RUNTIME.finding(rule_id, f"output {t.name[:60]!r} has {bad} NaN/inf values on {fed}",
                                    level=Level.MUST))
            continue
        if kind is not None:
            level = Level(kind.violation_level) if kind.violation_level else None
            findings.extend(RUNTIME.finding(rule_id, p.message, level=level, fix=p.fix)
                            for p in kind.check_values(t, value, producer_op(ctx.model, t.name)))
    return findings


def _declared_shape(t: TensorInfo, value: np.ndarray, rule_id: str):
    if t.shape is None:
        return
    declared = t.shape
    matches = len(declared) == value.ndim and all(
        not isinstance(d, int) or d == actual for d, actual in zip(declared, value.shape)
    )
    if not matches:
        yield RUNTIME.finding(rule_id, f"output {t.name[:60]!r} is declared {declared} but onnxruntime returns "
                      f"{list(value.shape)}", level=Level.MUST,
                      fix="fix the exported output shape so that the declaration and the computed tensor agree")
