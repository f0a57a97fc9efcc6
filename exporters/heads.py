"""Output heads appended inside the graph, so the device gets probabilities, not logits (rule D2)."""

from __future__ import annotations

import torch
from torch import nn

from nxport.exporters.config import Activation


class ProbabilityHead(nn.Module):
    def __init__(self, backbone: nn.Module, activation: Activation):
        super().__init__()
        self.backbone = backbone
        self.activation = activation

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.backbone(image)
        if self.activation is Activation.SIGMOID:
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=1)
