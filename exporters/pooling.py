"""Pooling and normalization heads that turn backbone features into one embedding vector.

Every head exports with static shapes: GeM is a ReduceMean over the spatial axes rather than an
avg_pool2d whose kernel is read from the tensor at run time (which breaks ONNX export).
"""

from __future__ import annotations

import torch
from torch import nn

from nxport.exporters.config import Pool  # noqa: F401  (re-exported: the head and its names belong together)


def pool_features(features: torch.Tensor, pool: Pool, gem_p: float = 3.0, eps: float = 1e-6) -> torch.Tensor:
    """(B, N, D) tokens or (B, C, H, W) feature maps -> (B, D)."""
    if pool is Pool.CLS:
        return features[:, 0]
    if pool is Pool.MEAN:
        return features.mean(dim=1) if features.ndim == 3 else features.mean(dim=(2, 3))
    if pool is Pool.GEM:
        return features.clamp(min=eps).pow(gem_p).mean(dim=(2, 3)).pow(1.0 / gem_p)
    raise ValueError(f"pool {pool} is applied by the model itself")


def allowed_pools(feature_rank: int, has_pooler: bool, has_cls: bool) -> list[Pool]:
    allowed = [Pool.MEAN]
    if has_pooler:
        allowed.insert(0, Pool.POOLER)
    if feature_rank == 3 and has_cls:
        allowed.append(Pool.CLS)
    if feature_rank == 4:
        allowed.append(Pool.GEM)
    return allowed


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    # Written out rather than F.normalize so the exported ops are plain and quantization-friendly.
    return x / torch.sqrt((x * x).sum(dim=1, keepdim=True)).clamp(min=eps)


class EmbeddingModel(nn.Module):
    """adapter features -> pool -> (optional) L2 normalization.

    `adapter` is a source-specific module with `features(x)` (tokens or a feature map) and
    `pooled(x)` (the model's own pooling), so timm and Hugging Face backbones share one head.
    """

    def __init__(self, adapter: nn.Module, pool: Pool, normalize: bool, gem_p: float = 3.0):
        super().__init__()
        self.adapter = adapter
        self.pool, self.normalize, self.gem_p = pool, normalize, gem_p

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.pool is Pool.POOLER:
            vector = self.adapter.pooled(image)
        else:
            vector = pool_features(self.adapter.features(image), self.pool, self.gem_p)
        return l2_normalize(vector) if self.normalize else vector
