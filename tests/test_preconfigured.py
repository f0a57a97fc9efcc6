"""Tests generated from the registry of preconfigured models, plus the listing API and CLI.

Every entry exports (real offline weights where a package ships them, random init from the entry's
architecture config otherwise), passes the checker and matches PyTorch. EXPECTED must name every
entry: adding a model to the registry without adding its expectations here fails the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest

from nxport import conventions
from nxport.exporters import PresetOverrides, export_preconfigured, get_model_spec, list_models
from nxport.conventions.contract import read_provenance
from nxport.exporters.preconfigured import config_for
from nxport.core.errors import UnknownModelError

IMAGENET_0_255 = {"means": [123.675, 116.28, 103.53], "vars": [58.395, 57.12, 57.375]}
HALF_0_255 = {"means": [127.5] * 3, "vars": [127.5] * 3}

# name -> (output name or prefix, input H=W, doc_string normalization)
EXPECTED = {
    "resnet18": ("scores-0:tench;", 224, IMAGENET_0_255),
    "tf_efficientnet_lite0": ("scores-0:tench;", 224, HALF_0_255),
    "tf_efficientnet_lite0_embedding": ("embedding-dim:1280;norm:l2;pool:pooler", 224, HALF_0_255),
    "mobilenetv3_large_100": ("scores-0:tench;", 224, IMAGENET_0_255),
    "convnext_tiny": ("embedding-dim:768;norm:l2;pool:pooler", 224, IMAGENET_0_255),
    "vit_base_patch16_224": ("embedding-dim:768;norm:l2;pool:cls", 224, HALF_0_255),
    "google/vit-base-patch16-224": ("embedding-dim:768;norm:l2;pool:cls", 224, HALF_0_255),
    "facebook/deit-base-patch16-224": ("embedding-dim:768;norm:l2;pool:cls", 224, IMAGENET_0_255),
    "microsoft/beit-base-patch16-224": ("embedding-dim:768;norm:l2;pool:pooler", 224, HALF_0_255),
    "facebook/convnext-tiny-224": ("embedding-dim:768;norm:l2;pool:pooler", 224, IMAGENET_0_255),
    "facebook/dinov2-small": ("embedding-dim:384;norm:l2;pool:cls", 224, IMAGENET_0_255),
    "isc21_descriptor_efficientnetv2_m": ("embedding-dim:256;norm:l2;pool:gem", 512, IMAGENET_0_255),
}


def test_every_registry_entry_has_expectations():
    assert set(list_models()) == set(EXPECTED), "add the new entry to EXPECTED in tests/test_preconfigured.py"


@pytest.mark.parametrize("name", list_models())
def test_registry_entry_exports_conformant_and_matches_pytorch(name, tmp_path):
    spec = get_model_spec(name)
    random_init = spec.offline_weights is None
    # Breadth: the entry's own architecture with fewer blocks (same code paths); full size where the real
    # weights ship offline. Full-size transformer evidence: tests/test_clip.py exports the whole ViT-B/32 pair.
    overrides = PresetOverrides(random_init=random_init, output_dir=tmp_path,
                                architecture=spec.reduced_architecture if random_init else None)
    result = export_preconfigured(name, overrides)
    model = onnx.load(str(result.onnx_path))
    expected_output, size, normalization = EXPECTED[name]
    assert model.graph.output[0].name.startswith(expected_output)
    assert result.report.inputs[0]["shape"] == [1, 3, size, size]
    assert json.loads(model.graph.doc_string) == normalization
    report = conventions.check(result.onnx_path)
    assert report.conformant, report.format_text()
    parity = read_provenance(model)["parity"]
    if spec.task == "embedding":
        assert parity["min_cosine"] >= 0.9999
    else:
        assert parity["top1_agreement"] == 1.0 and parity["max_abs_diff"] < 1e-4
    weights = read_provenance(model)["weights"]
    assert weights["source"] == ("local" if spec.offline_weights else "random-init")
    assert read_provenance(model).get("architecture_overrides") == overrides.architecture


def test_reduced_architectures_only_go_with_random_init():
    from nxport.core.errors import ConfigError

    spec = get_model_spec("facebook/dinov2-small")
    with pytest.raises(ConfigError, match="random_init=True"):
        config_for(spec, PresetOverrides(weights="dinov2/", architecture=spec.reduced_architecture))


def test_explicit_values_override_the_entry():
    config = config_for(get_model_spec("facebook/dinov2-small"), PresetOverrides(pool="mean", random_init=True))
    assert config.pool.value == "mean" and config.registry_preprocessing.input_size == (224, 224)
    assert config.hf_config["hidden_size"] == 384


def test_listing_api_filters():
    assert list_models("facebook/*") == ["facebook/convnext-tiny-224", "facebook/deit-base-patch16-224",
                                         "facebook/dinov2-small"]
    assert set(list_models(task="classification")) == {"resnet18", "tf_efficientnet_lite0", "mobilenetv3_large_100"}
    spec = get_model_spec("microsoft/beit-base-patch16-224").to_dict()
    assert spec["pool"] == "pooler" and spec["preprocessing"]["mean"] == [0.5, 0.5, 0.5]


def test_unknown_entry_suggests_close_names():
    with pytest.raises(UnknownModelError, match="facebook/dinov2-small"):
        get_model_spec("facebook/dinov2-smal")


def nxport(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nxport", *args], capture_output=True, text=True, timeout=300)


def test_cli_listing_and_show():
    listing = nxport("list-models", "google/*")
    assert listing.returncode == 0 and "google/vit-base-patch16-224" in listing.stdout
    shown = nxport("show-model", "facebook/dinov2-small")
    assert shown.returncode == 0 and json.loads(shown.stdout)["hf_config"]["patch_size"] == 14
    templates = nxport("list-models", "--templates")
    assert "ConvNextImageProcessor" in templates.stdout
    missing = nxport("show-model", "facebook/dino")
    assert missing.returncode == 2 and "Did you mean: facebook/dinov2-small" in missing.stderr


def test_cli_exports_a_registry_entry_with_real_offline_weights(tmp_path):
    proc = nxport("export", "preconfigured", "tf_efficientnet_lite0", "--output-dir", str(tmp_path), "--target", "rknn")
    assert proc.returncode == 0, proc.stderr
    assert "CONFORMANT" in proc.stdout and (tmp_path / "tf_efficientnet_lite0.onnx").is_file()
    # --target means the same on every export task, registry entries included.
    report = json.loads((tmp_path / "tf_efficientnet_lite0.report.json").read_text())
    assert set(report["provenance"]["npu_preflight"]["targets"]) == {"rknn"}


def test_cli_entry_without_offline_weights_needs_a_source(tmp_path):
    proc = nxport("export", "preconfigured", "facebook/dinov2-small", "--output-dir", str(tmp_path))
    assert proc.returncode == 2 and "--random-init" in proc.stderr
    assert list(tmp_path.iterdir()) == []
