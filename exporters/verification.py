"""One verification pass per exported graph: PyTorch runs once, onnxruntime opens the final graph once.

PyTorch runs all parity photos as one batch, before the export (its outputs also pin the graph's
output shapes). onnxruntime opens the final (simplified) graph once, runs every photo, and the first
photo a second time. Those outputs serve three checks that used to open their own sessions:
- simplification: the simplified graph is compared with PyTorch directly, which proves the simplified
  graph right without running the unsimplified one; that one runs only when parity fails, to say
  whether the export or the simplifier broke the numbers;
- parity (exporters.parity), on every photo;
- the checker's runtime stage (conventions.runtime.RunEvidence), on the first photo and its re-run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from nxport.conventions.checking.runtime import RunEvidence
from nxport.core.errors import ExportError


@dataclass
class GraphRun:
    """onnxruntime's outputs of the final graph on the parity feeds (first output of each run)."""

    outputs: list[np.ndarray]
    evidence: RunEvidence


def torch_reference(module, feeds: list[dict], input_name: str) -> list[np.ndarray]:
    """The module's output for every feed, computed as one batch (one forward pass, not one per photo)."""
    import torch

    batch = torch.from_numpy(np.concatenate([feed[input_name] for feed in feeds]))
    with torch.no_grad():
        out = module(batch)
    out = out[0] if isinstance(out, (tuple, list)) else out
    return [row[None] for row in out.numpy()]


def run_final_graph(model, feeds: list[dict], label: str) -> GraphRun:
    """Open the graph once; run every feed, and the first one again for the determinism check."""
    from nxport.core.sessions import cpu_session

    try:
        session = cpu_session(model.SerializeToString())
    except Exception as exc:  # ORT's Fail/InvalidGraph/NotImplemented all mean: the artifact does not load
        raise ExportError(f"onnxruntime cannot load the exported graph (rule A3): {type(exc).__name__}: "
                          f"{str(exc)[:300]}", fix="try another --opset or --no-simplify, and report the model") from exc
    names = [o.name for o in session.get_outputs()]
    started = time.perf_counter()
    runs = [session.run(None, feed) for feed in feeds]
    second = session.run(None, feeds[0])
    seconds = (time.perf_counter() - started) * 2 / (len(feeds) + 1)  # comparable to the checker's two runs
    evidence = RunEvidence(feeds=feeds[0], first=dict(zip(names, runs[0])), second=second, label=label,
                           seconds=seconds)
    return GraphRun([outs[0] for outs in runs], evidence)


def blame_simplifier(unsimplified, feeds: list[dict], expected: list[np.ndarray]) -> str:
    """Only after a failed parity: does the unsimplified graph match PyTorch? Names the step to bypass."""
    from nxport.core.sessions import cpu_session

    session = cpu_session(unsimplified.SerializeToString())
    worst = max(float(np.max(np.abs(session.run(None, feed)[0] - ref))) for feed, ref in zip(feeds, expected))
    if worst <= 1e-4:
        return (f"the unsimplified graph matches PyTorch (max |d| {worst:.2e}): onnxsim broke it; "
                "pass --no-simplify")
    return f"the unsimplified graph differs too (max |d| {worst:.2e}): the export itself is wrong"


@dataclass
class VerifiedGraph:
    """An exported (and simplified) graph with everything its single verification pass measured."""

    model: object  # onnx.ModelProto, the final graph
    expected: list[np.ndarray]  # PyTorch, per feed
    run: GraphRun  # onnxruntime, per feed
    simplify_info: dict | None
    unsimplified: object | None  # kept only to explain a failed parity

    def blame(self, feeds: list[dict]):
        """For parity's error message: None, or a callable naming the step that broke the numbers."""
        if self.unsimplified is None:
            return None
        return lambda: blame_simplifier(self.unsimplified, feeds, self.expected)


def export_verified(module, feeds: list[dict], input_name: str, output_name, opset: int, *,
                    simplify_graph: bool, timer, label: str, part: str = "") -> VerifiedGraph:
    """torch reference (one batch) -> export -> onnxsim -> one onnxruntime session on the final graph.
    output_name: the Nx output name, or a function of the reference output that builds it (an
    embedding's name carries its dimension). part: which graph, in the progress lines (CLIP has three)."""
    import torch

    from nxport.exporters.onnx_export import export_module, simplify

    with timer("parity", part):
        expected = torch_reference(module, feeds, input_name)
    with timer("export", part):
        example = torch.from_numpy(feeds[0][input_name])
        model = export_module(module, torch.zeros_like(example) if example.is_floating_point() else example,
                              input_name, [output_name(expected[0]) if callable(output_name) else output_name],
                              opset, reference_outputs=[expected[0]])
    unsimplified, info = None, None
    if simplify_graph:
        with timer("simplify", part):
            unsimplified, (model, info) = model, simplify(model)
    with timer("parity", part):
        run = run_final_graph(model, feeds, label)
    return VerifiedGraph(model, expected, run, info, unsimplified)
