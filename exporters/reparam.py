"""Inference-time reparameterization of timm models (MobileOne, RepVGG, FastViT, ...) before export.

Their training-time blocks run parallel conv/BN branches that sum into one output; timm folds each
block into the single conv it is equivalent to (`timm.utils.reparameterize_model`, what timm's own
onnx_export does with --reparam). Exporting the unfolded graph ships every branch: MobileOne-S0 has
191 Conv + 183 Add nodes where the folded one has 43 Conv. The fold is exact in real arithmetic, so it
is proven in float32 here, on the parity photos, before the export's own parity check starts from it.
"""

from __future__ import annotations

import numpy as np

from nxport.core.errors import ParityError
from nxport.exporters.verification import torch_reference

_REPARAM_METHODS = ("fuse", "reparameterize", "switch_to_deploy")  # what timm's walker calls


def reparameterizable_blocks(module) -> int:
    return sum(1 for child in module.modules() if any(hasattr(child, m) for m in _REPARAM_METHODS))


def reparameterize_for_export(module, feeds: list[dict], input_name: str, *, enabled: bool,
                              atol: float | None = None, min_cosine: float | None = None):
    """(module to export, report record). The folded module must agree with the original on every
    feed: max |d| <= atol (probabilities) or cosine >= min_cosine (embeddings)."""
    if not enabled:
        return module, {"applied": False, "reason": "--no-reparam"}
    blocks = reparameterizable_blocks(module)
    if not blocks:
        return module, {"applied": False, "reason": "no reparameterizable blocks"}
    from timm.utils import reparameterize_model

    before = np.concatenate(torch_reference(module, feeds, input_name))
    folded = reparameterize_model(module).eval()  # a copy: the training-time module stays intact
    after = np.concatenate(torch_reference(folded, feeds, input_name))
    record = {"applied": True, "blocks": blocks, "images": len(feeds),
              "max_abs_diff": float(np.max(np.abs(before - after))), "min_cosine": _min_cosine(before, after)}
    if (atol is not None and record["max_abs_diff"] > atol) or (
            min_cosine is not None and record["min_cosine"] < min_cosine):
        raise ParityError(
            f"timm's reparameterization changed the model's outputs on {len(feeds)} photos: max |d| "
            f"{record['max_abs_diff']:.2e}, min cosine {record['min_cosine']:.6f}",
            fix="pass --no-reparam to export the training-time branches unchanged",
        )
    return folded, record


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
    return round(float(cos.min()), 8)
