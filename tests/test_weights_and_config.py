"""Weights formats, checkpoint layouts and the preprocessing precedence, table-driven."""

from __future__ import annotations

import json

import pytest
import torch

from nxport.exporters.config import PreprocessingOverrides, preprocessing_from_pretrained_cfg, resolve_preprocessing
from nxport.exporters.timm_source import load_timm_model
from nxport.exporters.weights import locate_weights
from nxport.core.errors import ConfigError, WeightsError


def test_precedence_explicit_over_weights_config_over_model_over_default():
    explicit = PreprocessingOverrides(input_size=(160, 160))
    weights_cfg = PreprocessingOverrides(mean=(0.5, 0.5, 0.5), input_size=(192, 192))
    model_cfg = preprocessing_from_pretrained_cfg({"input_size": (3, 224, 224), "mean": (0.4, 0.4, 0.4),
                                                   "std": (0.2, 0.2, 0.2), "interpolation": "bicubic"})
    pre = resolve_preprocessing(("explicit", explicit), ("weights-config", weights_cfg), ("model-config", model_cfg))
    assert pre.input_size == (160, 160) and pre.origin["input_size"] == "explicit"
    assert pre.mean == (0.5, 0.5, 0.5) and pre.origin["mean"] == "weights-config"
    assert pre.std == (0.2, 0.2, 0.2) and pre.interpolation == "bicubic"
    assert pre.crop_pct == 1.0 and pre.origin["crop_pct"] == "library-default"


@pytest.mark.parametrize("override,match", [
    (PreprocessingOverrides(mean=(123.7, 116.3, 103.5)), "0..255 scale"),
    (PreprocessingOverrides(std=(0.2, 0.0, 0.2)), "<= 0"),
    (PreprocessingOverrides(mean=(0.5, 0.5)), "allowed: 1"),
    (PreprocessingOverrides(input_size=(4, 4)), "outside 8..4096"),
    (PreprocessingOverrides(interpolation="cubic-ish"), "interpolation"),
])
def test_bad_preprocessing_values_name_the_value(override, match):
    with pytest.raises(ConfigError, match=match):
        resolve_preprocessing(("explicit", override))


def _state(num_classes=7):
    import timm

    return timm.create_model("resnet18", num_classes=num_classes).state_dict()


@pytest.mark.parametrize("layout", ["plain", "wrapped", "ddp"])
def test_checkpoint_layouts_load_by_name(layout, tmp_path):
    state = _state()
    payload = {"plain": state, "wrapped": {"state_dict": state, "epoch": 3},
               "ddp": {f"module.{k}": v for k, v in state.items()}}[layout]
    path = tmp_path / "ckpt.pth"
    torch.save(payload, path)
    loaded = load_timm_model("resnet18", weights=path)
    assert loaded.num_classes == 7  # read from the checkpoint's classifier, no --num-classes needed
    assert torch.equal(loaded.module.fc.weight, state["fc.weight"])
    assert loaded.weights["key_mapping"] == "by-name"


def test_hf_style_directory_with_config(tmp_path):
    from safetensors.torch import save_file

    save_file(_state(4), str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({
        "architecture": "resnet18", "num_classes": 4,
        "pretrained_cfg": {"input_size": [3, 256, 256], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    }))
    loaded = load_timm_model("resnet18", weights=tmp_path)
    assert loaded.num_classes == 4 and loaded.weights["file"] == "model.safetensors"
    assert loaded.local_cfg.input_size == (256, 256) and loaded.local_cfg.std == (0.25, 0.25, 0.25)


def test_directory_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(WeightsError, match="holds no weights file"):
        locate_weights(tmp_path)


def test_wrong_suffix(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"\x89HDF")
    with pytest.raises(WeightsError, match="allowed: .safetensors"):
        locate_weights(path)


def test_shape_mismatch_by_name_names_the_tensor(tmp_path):
    state = _state(7)
    path = tmp_path / "ckpt.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match="fc.weight"):
        load_timm_model("resnet18", weights=path, num_classes=3)
