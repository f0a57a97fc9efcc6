"""Honest FP32-vs-INT8 numbers for classifiers: top-1 agreement by FP32 margin band, with intervals.

Half of natural photos have an FP32 top-1 margin (p1 - p2) below ~0.1: there agreement measures
near-ties as much as quantization. So top-1 agreement is reported on all images and on the images
whose FP32 margin is >= 0.05, 0.1 and 0.2, each with a 95% Wilson score interval, plus top-5
overlap and the KL divergence KL(FP32 || INT8) of the output distributions. Only running sums are
kept: evaluation sets of any size stream through in bounded memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MARGIN_BANDS = (0.0, 0.05, 0.1, 0.2)
Z95 = 1.959963984540054


def wilson_interval(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (sane at 0/n and n/n, unlike the normal one)."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def as_probabilities(x: np.ndarray) -> np.ndarray:
    """Outputs that already are probabilities (a Softmax in the graph) stay; logits get a softmax."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if np.all(x >= 0) and abs(float(x.sum()) - 1.0) < 1e-3:
        return x
    e = np.exp(x - x.max())
    return e / e.sum()


def top1_margin(p: np.ndarray) -> float:
    top2 = np.partition(p, -2)[-2:] if p.size > 1 else np.array([0.0, p[0]])
    return float(top2[1] - top2[0])


@dataclass
class Band:
    min_margin: float
    agree: int = 0
    total: int = 0

    def to_dict(self) -> dict:
        low, high = wilson_interval(self.agree, self.total)
        rate = self.agree / self.total if self.total else float("nan")
        return {"min_margin": self.min_margin, "images": self.total, "agree": self.agree,
                "top1_agreement": round(rate, 6), "ci95": [round(low, 4), round(high, 4)]}


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) of two probability vectors (zeros floored at 1e-12)."""
    return float(np.sum(p * (np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(q, 1e-12)))))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b) / (float(np.linalg.norm(a) * np.linalg.norm(b)) or 1e-12)


@dataclass
class ClassifierStats:
    """Running FP32-vs-INT8 statistics for one INT8 model on one runtime."""

    bands: list[Band] = field(default_factory=lambda: [Band(m) for m in MARGIN_BANDS])
    top5_sum: float = 0.0
    kl_sum: float = 0.0
    kl_max: float = 0.0
    count: int = 0

    def add(self, ref: np.ndarray, got: np.ndarray) -> None:
        p, q = as_probabilities(ref), as_probabilities(got)
        agree, margin = int(p.argmax()) == int(q.argmax()), top1_margin(p)
        for band in self.bands:
            if margin >= band.min_margin:
                band.total += 1
                band.agree += agree
        k = min(5, p.size)
        self.top5_sum += len(set(np.argsort(-p)[:k]) & set(np.argsort(-q)[:k])) / k
        kl = kl_divergence(p, q)
        self.kl_sum += kl
        self.kl_max = max(self.kl_max, kl)
        self.count += 1

    def band(self, min_margin: float) -> Band:
        return next(b for b in self.bands if b.min_margin == min_margin)

    def to_dict(self) -> dict:
        n = max(self.count, 1)
        return {"by_margin": [b.to_dict() for b in self.bands], "top5_overlap": round(self.top5_sum / n, 6),
                "kl_mean": round(self.kl_sum / n, 6), "kl_max": round(self.kl_max, 6)}
