"""Activation ranges chosen per tensor by the quantization error they cause (MSE on a histogram).

One global min/max is set by the most extreme pixel of the most extreme calibration image; the
projection convolutions of inverted-residual blocks (no ReLU6 after them) have long tails, and a
range set by the tail wastes most of the 256 levels. For each tensor the range [a*min, a*max] with
the lowest expected squared error (rounding inside, clipping outside) over the tensor's histogram is
kept, a in 0.3..1: the same as picking the highest SQNR. Graph inputs keep their full range.
"""

from __future__ import annotations

import numpy as np

SHRINK = np.linspace(0.3, 1.0, 36)
LEVELS = 255  # uint8 activations


def expected_error(centres: np.ndarray, counts: np.ndarray, low: float, high: float) -> float:
    """Mean squared error of quantizing values at `centres` (weighted by counts) to uint8 on [low, high]."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / LEVELS or 1e-12
    zero = np.round(-low / scale)
    q = np.clip(np.round(centres / scale) + zero, 0, LEVELS)
    return float(np.sum(counts * ((q - zero) * scale - centres) ** 2) / max(counts.sum(), 1))


def mse_range(hist: np.ndarray, edges: np.ndarray, minimum: float, maximum: float) -> tuple[float, float]:
    centres = (edges[:-1] + edges[1:]) / 2
    used = hist > 0
    centres, counts = centres[used], hist[used].astype(np.float64)
    best = min(SHRINK, key=lambda a: expected_error(centres, counts, a * minimum, a * maximum))
    return float(best * minimum), float(best * maximum)


def ranges_from_histograms(histograms: dict, keep_full: set[str]) -> dict[str, tuple[float, float]]:
    """ORT HistogramCollector.histogram_dict -> {tensor: (low, high)}."""
    out = {}
    for name, (hist, edges, minimum, maximum, _threshold) in histograms.items():
        minimum, maximum = float(minimum), float(maximum)
        out[name] = (minimum, maximum) if name in keep_full else mse_range(np.asarray(hist), np.asarray(edges),
                                                                         minimum, maximum)
    return out
