"""The measured FP32 ceiling: the fastest square MatMul the best kernels on this machine manage, next
to the theoretical peak. A model's achieved GFLOP/s is compared with both; a single 1024^2 torch matmul
is not a ceiling (onnxruntime's resnet18 convolutions beat it on this EPYC), so every kernel at hand runs
at several sizes, on one thread and on all of them, and the best at each thread count wins.

Kernels: onnxruntime's CPU MatMul (MLAS) with B a constant, which MLAS packs once at session start as it
does a model's conv and Gemm weights (a B fed per run is re-packed every run: 10-30% slower), and
torch.matmul (MKL / oneDNN). Sizes start at 512: its 3 MB working set stays in cache, as a model's
layers' tiles do, while 2048 and up are slowed by memory and by neighbours on a shared machine. The
fastest run of each, not the median: other work only ever slows a run down, and short runs are the
likeliest to land in one undisturbed scheduler time slice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

SIZES = {"quick": (512, 1024, 2048), "full": (512, 1024, 2048, 4096)}
SECONDS_PER_POINT = {"quick": 0.5, "full": 1.5}  # time spent on one (kernel, size, threads) after warm-up
MIN_RUNS, MAX_RUNS = 3, 500


def matmul_model(n: int) -> bytes:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    square = [n, n]
    b = numpy_helper.from_array(np.random.default_rng(1).standard_normal(square, dtype=np.float32), "b")
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "sgemm",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, square)],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, square)], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def ort_matmul(n: int, threads: int) -> Callable[[], None]:
    from nxport.core.sessions import cpu_session

    session = cpu_session(matmul_model(n), threads=threads)
    rng = np.random.default_rng(0)
    feed = {"a": rng.standard_normal((n, n), dtype=np.float32)}
    return lambda: session.run(None, feed)


def torch_matmul(n: int, threads: int) -> Callable[[], None]:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)

    def run():
        torch.set_num_threads(threads)  # set per call: the other kernel's runs must not inherit it
        with torch.inference_mode():
            torch.matmul(a, b)
    return run


KERNELS = {"onnxruntime": ort_matmul, "torch": torch_matmul}


def fastest_seconds(run: Callable[[], None], budget_s: float) -> tuple[float, int]:
    run()  # warm-up: packing buffers, thread pool start
    times: list[float] = []
    while len(times) < MIN_RUNS or (sum(times) < budget_s and len(times) < MAX_RUNS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), len(times)


def thread_counts(threads: int) -> list[int]:
    """One thread, the threads the benchmark uses, and every logical CPU."""
    return sorted({1, threads, os.cpu_count() or 1})


def measure(threads: int, preset: str = "full") -> dict:
    """Best GFLOP/s at each thread count over kernels and sizes; `gemm_gflops_per_s` is the one at the
    benchmark's own thread count, which is what the models' GFLOP/s are divided by."""
    import torch

    torch_threads = torch.get_num_threads()
    points = []
    try:
        for count in thread_counts(threads):
            for n in SIZES[preset]:
                for kernel, make in KERNELS.items():
                    seconds, runs = fastest_seconds(make(n, count), SECONDS_PER_POINT[preset])
                    points.append({"kernel": kernel, "n": n, "threads": count, "runs": runs,
                                   "gflops_per_s": round(2 * n**3 / seconds / 1e9, 2)})
    finally:
        torch.set_num_threads(torch_threads)
    best = {count: max((p for p in points if p["threads"] == count), key=lambda p: p["gflops_per_s"])
            for count in thread_counts(threads)}
    mine, everyone = best[threads], best[max(best)]
    sizes = ", ".join(str(n) for n in SIZES[preset])
    return {"gemm_gflops_per_s": mine["gflops_per_s"], "gemm_all_cpus_gflops_per_s": everyone["gflops_per_s"],
            "gemm_all_cpus_threads": max(best), "gemm_points": points,
            "gemm_note": f"best of onnxruntime MatMul (MLAS, B packed once) and torch.matmul (MKL/oneDNN), FP32 n x n, "
            f"n = {sizes}, fastest run each; at {threads} thread(s): {_label(mine)}; at {max(best)} "
            f"thread(s): {everyone['gflops_per_s']} GFLOP/s ({_label(everyone)})"}


def _label(point: dict) -> str:
    return f"{point['kernel']} n={point['n']}"
