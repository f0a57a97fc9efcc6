"""FP32 vs INT8 on evaluation images: agreement, top-5 overlap or cosine, latency and size ratios.

Every INT8 model is measured twice: as onnxruntime's CPU kernels run it ("ort_cpu", graph
optimizations on: integer kernels, which on x86 AVX2 without VNNI may saturate int16 in u8s8
products) and as exact QDQ arithmetic ("simulated", optimizations off: what an NPU with int32
accumulation computes). The target metric is the worse of the two.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from nxport.calibration.metrics import ClassifierStats, cosine

RUNTIMES = ("ort_cpu", "simulated")


def session(model: bytes | str, *, optimized: bool = True, threads: int | None = None):
    from nxport.core.sessions import cpu_session

    return cpu_session(model, threads=threads, optimized=optimized)


def first_output(sess, input_name: str, tensor: np.ndarray) -> np.ndarray:
    return np.asarray(sess.run(None, {input_name: tensor})[0], dtype=np.float64).reshape(-1)


@dataclass
class Agreement:
    """Per-sample agreement of one INT8 run with FP32, accumulated (no outputs kept)."""

    embedding: bool
    top1: list[bool] = field(default_factory=list)
    top5: list[float] = field(default_factory=list)
    cosine: list[float] = field(default_factory=list)
    stats: ClassifierStats = field(default_factory=ClassifierStats)  # by FP32 margin band, KL

    def add(self, ref: np.ndarray, got: np.ndarray) -> None:
        if self.embedding:
            self.cosine.append(cosine(ref, got))
            return
        self.top1.append(int(ref.argmax()) == int(got.argmax()))
        self.stats.add(ref, got)
        k = min(5, ref.size)
        self.top5.append(len(set(np.argsort(-ref)[:k]) & set(np.argsort(-got)[:k])) / k)

    @property
    def metric_name(self) -> str:
        return "cosine_mean" if self.embedding else "top1_agreement"

    @property
    def metric(self) -> float:
        values = self.cosine if self.embedding else self.top1
        return float(np.mean(values)) if values else float("nan")

    def to_dict(self) -> dict:
        if self.embedding:
            return {"samples": len(self.cosine), "cosine_mean": round(self.metric, 6),
                    "cosine_min": round(float(min(self.cosine)), 6) if self.cosine else None}
        return {"samples": len(self.top1), "top1_agreement": round(self.metric, 6),
                "top5_overlap": round(float(np.mean(self.top5)), 6) if self.top5 else None,
                **{k: v for k, v in self.stats.to_dict().items() if k != "top5_overlap"}}


def compare(fp32, int8_models: dict[str, bytes], tensors: Iterable[np.ndarray], input_name: str,
            metric, fp32_cache: list | None = None) -> dict[str, dict[str, Agreement]]:
    """-> {model key: {runtime: the metric's tally}}, streaming over `tensors` (FP32 outputs may be
    cached). `metric`: the kind's calibration.agreement.AgreementMetric (top-1 or cosine)."""
    sessions = {key: {"ort_cpu": session(data), "simulated": session(data, optimized=False)}
                for key, data in int8_models.items()}
    results = {key: {rt: metric.accumulator() for rt in RUNTIMES} for key in int8_models}
    for index, tensor in enumerate(tensors):
        if fp32_cache is not None and index < len(fp32_cache):
            ref = fp32_cache[index]
        else:
            ref = first_output(fp32, input_name, tensor)
            if fp32_cache is not None:
                fp32_cache.append(ref)
        for key, by_runtime in sessions.items():
            for runtime, sess in by_runtime.items():
                results[key][runtime].add(ref, first_output(sess, input_name, tensor))
    return results


def worst(by_runtime: dict[str, Agreement]) -> float:
    return min(a.metric for a in by_runtime.values())


def worst_for_tuning(by_runtime: dict[str, Agreement], margin: float = 0.0) -> float:
    """The auto search's score on the calibration images, worse runtime: mean cosine (embeddings) or
    top-1 agreement on the images whose FP32 margin is >= `margin` (the band the target applies to)."""
    scores = []
    for agreement in by_runtime.values():
        band = None if agreement.embedding else agreement.stats.band(margin)
        scores.append(agreement.metric if band is None or not band.total else band.agree / band.total)
    return min(scores)


def interleaved_latency_ms(models: list[bytes | str], input_name: str, tensor: np.ndarray, runs: int = 20,
                           warmup: int = 5) -> list[float]:
    """Median wall time of single-threaded onnxruntime CPU runs of each model, after warm-up, the
    models taking turns run by run: a busy spell on the machine slows all of them alike, so the
    ratio holds where two back-to-back medians would not."""
    sessions = [session(model, threads=1) for model in models]
    times: list[list[float]] = [[] for _ in sessions]
    for index in range(warmup + runs):
        for sess, spent in zip(sessions, times):
            start = time.perf_counter()
            sess.run(None, {input_name: tensor})
            if index >= warmup:
                spent.append((time.perf_counter() - start) * 1000.0)
    return [statistics.median(spent) for spent in times]


def speed_and_size(fp32_bytes: bytes, int8_bytes: bytes, input_name: str, tensor: np.ndarray,
                   runs: int = 20) -> dict:
    fp32_ms, int8_ms = interleaved_latency_ms([fp32_bytes, int8_bytes], input_name, tensor, runs)
    return {"fp32_bytes": len(fp32_bytes), "int8_bytes": len(int8_bytes),
            "size_ratio": round(len(int8_bytes) / len(fp32_bytes), 4),
            "fp32_latency_ms": round(fp32_ms, 3), "int8_latency_ms": round(int8_ms, 3),
            "latency_ratio": round(int8_ms / fp32_ms, 3), "latency_runs": runs,
            "latency_note": "onnxruntime CPU, 1 thread, FP32 and INT8 runs interleaved, medians after warm-up; "
            "ratio > 1 means INT8 is slower "
            "(x86 without VNNI has no fast int8 dot product)"}
