"""PyTorch vs the ONNX artifact on real photos fed the Nx way. A failed parity is an error."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from nxport.conventions.normalization import Normalization
from nxport.conventions.nx_input import InputLayout, nx_preprocess
from nxport.core.errors import ParityError
from nxport.core.images import Photo, iter_image_files, iter_photos, sample_photos


def parity_photos(folder: Path | None) -> list[Photo]:
    if folder is None:
        return sample_photos()
    photos = list(iter_photos(iter_image_files(folder)))
    if not photos:
        raise ParityError(f"No images found in {str(folder)!r}", fix="pass a folder with .jpg/.png files")
    return photos


def nx_feeds(photos: list[Photo], input_name: str, shape, norm: Normalization) -> list[dict]:
    layout = InputLayout.from_shape(shape)
    return [{input_name: nx_preprocess(p.rgb, layout, norm)} for p in photos]


@dataclass
class ClassifierParity:
    images: int
    max_abs_diff: float
    top1_agreement: float
    tolerance: float
    top1: dict = field(default_factory=dict)  # photo -> [class id, label, probability]

    def to_dict(self) -> dict:
        return asdict(self)


def _explained(message: str, blame) -> str:
    """A failed parity, with what the unsimplified graph says about the cause (if it was simplified)."""
    return f"{message}; {blame()}" if blame is not None else message


def classifier_parity(expected: list[np.ndarray], got: list[np.ndarray], photos: list[Photo], labels: list[str],
                      atol: float, blame=None) -> ClassifierParity:
    """PyTorch (`expected`) vs onnxruntime (`got`) per photo; blame: called only on failure."""
    diffs = [float(np.max(np.abs(e - g))) for e, g in zip(expected, got)]
    agree = [int(np.argmax(e)) == int(np.argmax(g)) for e, g in zip(expected, got)]
    top1 = {}
    for photo, probs in zip(photos, got):
        best = int(np.argmax(probs))
        top1[photo.name] = [best, labels[best], round(float(probs[0, best]), 4)]
    result = ClassifierParity(len(got), max(diffs), sum(agree) / len(agree), atol, top1)
    if result.max_abs_diff > atol or not all(agree):
        raise ParityError(_explained(
            f"ONNX vs PyTorch on {len(got)} photos: max |dp| = {result.max_abs_diff:.2e} "
            f"(tolerance {atol:.0e}), top-1 agreement {result.top1_agreement:.3f} (required 1.0)", blame),
            fix="try --opset 17 or --no-simplify; if it persists the model has an op that exports wrongly",
        )
    return result


@dataclass
class EmbeddingParity:
    images: int
    min_cosine: float
    mean_cosine: float
    max_abs_diff: float
    min_cosine_required: float

    def to_dict(self) -> dict:
        return asdict(self)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def embedding_parity(expected: list[np.ndarray], got: list[np.ndarray], min_cosine: float,
                     blame=None) -> EmbeddingParity:
    """PyTorch (`expected`) vs onnxruntime (`got`) per input; blame: called only on failure."""
    cosines = [cosine(e, g) for e, g in zip(expected, got)]
    result = EmbeddingParity(len(got), round(min(cosines), 8), round(float(np.mean(cosines)), 8),
                             max(float(np.max(np.abs(e - g))) for e, g in zip(expected, got)), min_cosine)
    if result.min_cosine < min_cosine:
        raise ParityError(_explained(
            f"ONNX vs PyTorch on {len(got)} inputs: minimum cosine {result.min_cosine:.6f} < {min_cosine}", blame),
            fix="try --opset 17 or --no-simplify; if it persists the model has an op that exports wrongly",
        )
    return result
