"""An ISC21 Descriptor-Track-style copy-detection head: any timm backbone -> GeM -> linear
projection -> BatchNorm -> L2 normalization, and a loader for checkpoints in that project's layout.

The original GeM calls avg_pool2d with a kernel read from the tensor's size at run time, which breaks
ONNX export; here GeM is a ReduceMean over the spatial axes, identical in value and static in shape.
Module attribute names (`backbone`, `fc`, `bn`) mirror the original so its state dicts load by name.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from nxport.exporters.pooling import Pool, l2_normalize, pool_features
from nxport.exporters.weights import locate_weights
from nxport.core.errors import WeightsError


class IscDescriptor(nn.Module):
    def __init__(self, backbone_name: str, fc_dim: int = 256, gem_p: float = 1.0, **create_kwargs):
        super().__init__()
        import timm

        self.backbone = timm.create_model(backbone_name, features_only=True, pretrained=False, **create_kwargs)
        channels = self.backbone.feature_info.channels()[-1]
        self.fc = nn.Linear(channels, fc_dim, bias=False)
        self.bn = nn.BatchNorm1d(fc_dim)
        self.gem_p = gem_p
        self.pretrained_cfg = dict(getattr(self.backbone, "pretrained_cfg", {}) or {})

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        feature_map = self.backbone(image)[-1]
        return l2_normalize(self.bn(self.fc(pool_features(feature_map, Pool.GEM, self.gem_p))))


@dataclass
class IscCheckpoint:
    state_dict: dict
    arch: str | None
    input_size: int | None


def read_isc_checkpoint(path: Path) -> IscCheckpoint:
    """{'arch', 'args': argparse.Namespace, 'state_dict': {'module.backbone...', 'module.fc...'}}.

    The training args are an argparse.Namespace; it is allow-listed explicitly so that loading stays
    weights_only (no arbitrary unpickling).
    """
    weights = locate_weights(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            checkpoint = torch.load(str(weights.path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"Cannot read ISC checkpoint {str(path)!r}: {type(exc).__name__}: {str(exc)[:200]}",
                           fix="pass a .pth/.pth.tar from the ISC21 descriptor project") from exc
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not any(k.endswith("fc.weight") for k in state):
        raise WeightsError(f"{str(path)!r} is not in the ISC21 layout (no fc.weight / bn.* keys)",
                           fix="pass a checkpoint saved by the ISC21 descriptor project")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    args = checkpoint.get("args")
    return IscCheckpoint(state, checkpoint.get("arch"), getattr(args, "input_size", None))


def load_isc_weights(model: IscDescriptor, checkpoint: IscCheckpoint, source: Path) -> None:
    target = model.state_dict()
    wrong = [k for k, v in checkpoint.state_dict.items() if k in target and target[k].shape != v.shape]
    missing = [k for k in target if k not in checkpoint.state_dict and not k.endswith("num_batches_tracked")]
    if wrong or missing:
        raise WeightsError(
            f"ISC checkpoint {source.name!r} does not fit backbone: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(wrong)} with other shapes (e.g. {wrong[:3]})",
            fix=f"pass --model {checkpoint.arch or 'THE_TRAINING_ARCH'} and --projection-dim matching the checkpoint",
        )
    model.load_state_dict(checkpoint.state_dict, strict=False)
