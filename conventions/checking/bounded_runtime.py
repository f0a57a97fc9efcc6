"""The onnxruntime stage under limits: `run(ctx, image, limits)` = conventions.runtime.run in a sandbox.

What the limits catch becomes a finding with its own rule: H1 (wall clock), H2 (memory or a killed
child), H3 (a static feed too large to allocate). Outputs and feeds of a completed run stay in
`ctx.runtime_run` (a typed RuntimeRun) for the reference-runtime stage, which compares against them instead of running again.
"""

from __future__ import annotations

import onnx

from nxport.conventions.checking import runtime as rt
from nxport.conventions import _sandbox as sandbox
from nxport.conventions.checking.context import ModelContext, RuntimeRun
from nxport.conventions.checking.findings import Finding, Level
from nxport.conventions.checking.registry import producer
from nxport.conventions._sandbox import Limits, Outcome, Status

SANDBOX = producer("sandbox limits", ("H1", "H2", "H3", "A3"),
                   "the onnxruntime stage in a child under wall-clock, memory and feed-size limits")
LIMIT_RULES = ["H1", "H2", "H3"]


def feed_problem(ctx: ModelContext, limits: Limits) -> str | None:
    """Why the static inputs are too large to feed, computed from the declarations alone."""
    total, parts = 0, []
    for t in ctx.inputs:
        if t.elem_type == 0 or not t.is_static:
            continue  # build_feeds reports these (B4) without allocating
        try:
            itemsize = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).itemsize
        except Exception:  # an elem_type onnx does not know: the runtime stage reports it
            continue
        size = sandbox.feed_bytes(t.shape, itemsize)
        total += size
        parts.append(f"{t.name!r} {t.shape} = {_mib(size)}")
    if total > limits.feed_bytes:
        return f"the input feed needs {_mib(total)} ({', '.join(parts)}), over the checker's limit of {_mib(limits.feed_bytes)}"
    return None


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB" if n < 2**40 else f"{n / 2**40:,.1f} TiB"


def limit_finding(outcome: Outcome, what: str, limits: Limits) -> Finding | None:
    """H1/H2 for an outcome that hit a limit; None when the child finished."""
    if outcome.status is Status.TIMEOUT:
        return SANDBOX.finding("H1", f"{what} gave no result within the {limits.timeout_s:g} s limit (wall clock for the "
                             f"whole check of the file, start-up included; {outcome.detail}); the child process "
                             "was killed")
    if outcome.status is Status.MEMORY:
        return SANDBOX.finding("H2", f"{what} ran out of memory under the checker's cap of {limits.memory_mb} MB: "
                             f"{outcome.detail[:300]}")
    if outcome.status is Status.KILLED:
        return SANDBOX.finding("H2", f"{what} did not survive: {outcome.detail}")
    return None


def _memory_to_h2(findings: list[Finding], limits: Limits) -> list[Finding]:
    # onnxruntime turns a failed allocation into its own exception; runtime.run reports that as
    # "fails to run" (A3). Under our cap it is the memory limit speaking: say so with H2.
    out = []
    for f in findings:
        if f.rule_id == "A3" and f.level is Level.MUST and sandbox.is_memory_error(f.message):
            f = SANDBOX.finding("H2", f"{f.message} (memory cap {limits.memory_mb} MB)")
        out.append(f)
    return out


def _preload() -> None:
    # Imported once in the parent, every forked child starts with onnxruntime loaded (~1 s saved
    # per file); the import creates no threads, so forking after it stays safe.
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        pass  # runtime.run reports the missing package as a finding


def run(ctx: ModelContext, image=None, limits: Limits | None = None) -> rt.RuntimeResult:
    limits = limits or Limits()
    ctx.runtime_run = RuntimeRun()  # tried: the reference stage never runs a model twice into a limit
    if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__"):
        rt.resolve_image(image)  # a bad --image is the caller's error: raise it here, not in the child
    limits_info = {"timeout_s": limits.timeout_s, "memory_mb": limits.memory_mb, "feed_bytes_max": limits.feed_bytes}
    problem = feed_problem(ctx, limits)
    if problem:
        return rt.RuntimeResult(findings=[SANDBOX.finding("H3", f"onnxruntime run refused: {problem}")],
                                info={"skipped": problem, "limits": limits_info})
    _preload()
    outcome = sandbox.run_bounded(rt.run, (ctx, image), limits)
    sandbox_info = {"seconds": round(outcome.seconds, 3), "peak_rss_mb": outcome.peak_rss_mb, **limits_info}
    hit = limit_finding(outcome, "the onnxruntime stage", limits)
    if hit is not None:
        return rt.RuntimeResult(findings=[hit], info={"skipped": hit.message, "sandbox": sandbox_info})
    if outcome.status is Status.ERROR:
        return rt.RuntimeResult(findings=[SANDBOX.finding(
            "A3", f"the onnxruntime stage could not complete: {outcome.detail}",
            fix="run the model in onnxruntime by hand to see whether it is the model or the checker")],
            info={"sandbox": sandbox_info})
    result: rt.RuntimeResult = outcome.value
    result.findings = _memory_to_h2(result.findings, limits)
    result.info["sandbox"] = sandbox_info
    ctx.runtime_run = RuntimeRun(feeds=result.feeds, outputs=result.outputs)
    result.feeds, result.outputs = {}, {}
    return result
