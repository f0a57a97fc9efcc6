"""Interleaved latency measurement: every contender runs once per round, in a shuffled order, so
that load from other work on a shared machine hits all of them equally. Medians, never means."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

import numpy as np


def ort_runner(model: bytes | str, input_name: str, x: np.ndarray, threads: int) -> Callable[[], None]:
    return ort_feed_runner(model, {input_name: x}, threads)


def ort_feed_runner(model: bytes | str, feed: dict, threads: int) -> Callable[[], None]:
    """One onnxruntime CPU session with exactly `threads` intra-op threads, run on a fixed feed (all
    inputs, e.g. a detector's image, threshold and mask). Spinning is off: a spinning ORT worker would
    steal the core from the contender timed right after it."""
    from nxport.core.sessions import cpu_session

    session = cpu_session(model, threads=threads, spinning=False)
    return lambda: session.run(None, feed)


def torch_runner(module, x: np.ndarray) -> Callable[[], None]:
    """PyTorch eager, inference mode; the thread count is set once by the caller (torch.set_num_threads)."""
    import torch

    tensor = torch.from_numpy(x)
    module.eval()

    def run():
        with torch.inference_mode():
            module(tensor)
    return run


def measure_interleaved(contenders: dict[str, Callable[[], None]], runs: int, warmup: int,
                        seed: int = 0) -> dict[str, dict]:
    """Median (and quartiles) wall time in ms per contender over `runs` shuffled rounds."""
    for _ in range(warmup):
        for run in contenders.values():
            run()
    order = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in order}
    rng = random.Random(seed)
    for _ in range(runs):
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            contenders[name]()
            times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: summarize(values, warmup) for name, values in times.items()}


def summarize(values: list[float], warmup: int) -> dict:
    q = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
    return {"median_ms": round(statistics.median(values), 3), "p25_ms": round(q[0], 3),
            "p75_ms": round(q[2], 3), "min_ms": round(min(values), 3), "runs": len(values), "warmup": warmup}
