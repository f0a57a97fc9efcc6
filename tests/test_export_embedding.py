"""Embedding export on real weights and photos, every pooling, HF directories, the ISC21 head."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from nxport import conventions
from nxport.conventions.normalization import parse_doc_string
from nxport.conventions.nx_input import InputLayout, nx_preprocess
from nxport.exporters import EmbeddingConfig, export_embedding
from nxport.conventions.contract import read_provenance
from nxport.core.errors import ConfigError, UnknownModelError, WeightsError, WeightsUnavailableError

REPO = Path(__file__).resolve().parents[1]


def embed(path: Path, images: list[np.ndarray]) -> np.ndarray:
    """Run the artifact the way the Nx runtime feeds it."""
    import onnxruntime as ort

    norm = parse_doc_string(onnx.load(str(path)).graph.doc_string)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    layout = InputLayout.from_shape(feed.shape)
    return np.concatenate([session.run(None, {feed.name: nx_preprocess(im, layout, norm)})[0] for im in images])


@pytest.fixture(scope="session")
def lite0_embedding(lite0_embedding_artifact) -> Path:
    return lite0_embedding_artifact


def views(rgb: np.ndarray) -> list[np.ndarray]:
    """Two crops and a flip of one photo: what a near-duplicate detector must group together."""
    h, w = rgb.shape[:2]
    return [rgb[: int(h * 0.9), : int(w * 0.9)], rgb[int(h * 0.1):, int(w * 0.08):], rgb[:, ::-1]]


def test_real_weights_embedding_matches_pytorch_and_passes_checker(lite0_embedding):
    model = onnx.load(str(lite0_embedding))
    assert model.graph.output[0].name == "embedding-dim:1280;norm:l2;pool:pooler"
    parity = read_provenance(model)["parity"]
    assert parity["min_cosine"] >= 0.9999 and parity["images"] >= 5
    report = conventions.check(lite0_embedding)
    assert report.conformant, report.format_text()
    assert json.loads(lite0_embedding.with_suffix("").with_suffix(".report.json").read_text())["task"] == "embedding"


def test_views_of_one_photo_are_closer_than_other_photos(lite0_embedding, photos):
    names = ["chelsea", "coffee", "astronaut", "rocket", "motorcycle"]
    groups = {n: embed(lite0_embedding, views(photos[n])) for n in names}
    for vectors in groups.values():
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    for name, vectors in groups.items():
        same = vectors @ vectors.T
        worst_same = same[np.triu_indices(len(vectors), 1)].min()
        best_other = max(float((vectors @ groups[o].T).max()) for o in names if o != name)
        assert worst_same > best_other, (name, worst_same, best_other)


@pytest.mark.parametrize("model,pool,dim", [
    ("resnet18", "pooler", 512), ("resnet18", "mean", 512), ("resnet18", "gem", 512),
    ("vit_tiny_patch16_224", "cls", 192), ("vit_tiny_patch16_224", "mean", 192),
    ("vit_tiny_patch16_224", "pooler", 192),
])
def test_every_pooling_exports_and_passes(model, pool, dim, tmp_path):
    result = export_embedding(EmbeddingConfig(model=model, random_init=True, pool=pool, output_dir=tmp_path))
    assert result.report.outputs[0]["name"] == f"embedding-dim:{dim};norm:l2;pool:{pool}"
    assert result.report.provenance["parity"]["min_cosine"] >= 0.9999
    assert conventions.check(result.onnx_path).conformant


def test_gem_exports_without_runtime_sized_kernels(tmp_path):
    result = export_embedding(EmbeddingConfig(model="resnet18", random_init=True, pool="gem", gem_p=4.0,
                                              output_dir=tmp_path))
    ops = {n.op_type for n in onnx.load(str(result.onnx_path)).graph.node}
    assert "ReduceMean" in ops and "AveragePool" not in ops
    assert result.report.provenance["gem_p"] == 4.0


def test_raw_vectors_when_normalization_is_off(tmp_path):
    result = export_embedding(EmbeddingConfig(model="resnet18", random_init=True, normalize=False,
                                              output_dir=tmp_path))
    assert result.report.outputs[0]["name"] == "embedding-dim:512;norm:none;pool:pooler"
    assert conventions.check(result.onnx_path).conformant


@pytest.mark.parametrize("model,pool", [("resnet18", "cls"), ("vit_tiny_patch16_224", "gem")])
def test_pooling_that_does_not_apply_names_the_allowed_ones(model, pool, tmp_path):
    with pytest.raises(ConfigError, match="allowed: "):
        export_embedding(EmbeddingConfig(model=model, random_init=True, pool=pool, output_dir=tmp_path))
    assert list(tmp_path.iterdir()) == []


def _save_hf_vit(directory: Path, processor: str = "ViTImageProcessor", **processor_kwargs) -> Path:
    import transformers

    config = transformers.ViTConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=128, image_size=64, patch_size=16)
    torch.manual_seed(0)
    transformers.ViTModel(config, add_pooling_layer=False).save_pretrained(directory)
    getattr(transformers, processor)(**processor_kwargs).save_pretrained(directory)
    return directory


def test_hf_directory_uses_its_image_processor(tmp_path):
    weights = _save_hf_vit(tmp_path / "vit", "DeiTImageProcessor",
                           size={"height": 72, "width": 72}, crop_size={"height": 64, "width": 64},
                           image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    result = export_embedding(EmbeddingConfig(model="acme/tiny-vit", weights=weights, output_dir=tmp_path / "out"))
    model = onnx.load(str(result.onnx_path))
    assert json.loads(model.graph.doc_string) == {"means": [123.675, 116.28, 103.53], "vars": [58.395, 57.12, 57.375]}
    assert result.report.inputs[0]["shape"] == [1, 3, 64, 64]
    provenance = read_provenance(model)
    assert provenance["source"]["template"] == "deit" and provenance["pool"] == "cls"  # no trained pooler
    assert provenance["preprocessing"]["origin"]["mean"] == "weights-config"
    assert conventions.check(result.onnx_path).conformant


def test_hf_rescale_factor_is_folded_into_the_0_255_scale(tmp_path):
    weights = _save_hf_vit(tmp_path / "vit", size={"height": 64, "width": 64}, do_rescale=False,
                           image_mean=[127.5, 127.5, 127.5], image_std=[127.5, 127.5, 127.5])
    result = export_embedding(EmbeddingConfig(model="acme/raw-vit", weights=weights, pool="mean",
                                              output_dir=tmp_path / "out"))
    assert json.loads(onnx.load(str(result.onnx_path)).graph.doc_string) == {"means": [127.5] * 3, "vars": [127.5] * 3}


def test_unsupported_processor_lists_the_templates(tmp_path):
    weights = _save_hf_vit(tmp_path / "vit", size={"height": 64, "width": 64})
    path = weights / "preprocessor_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "image_processor_type": "SamImageProcessor"}))
    with pytest.raises(ConfigError, match="Supported: .*ViTImageProcessor") as err:
        export_embedding(EmbeddingConfig(model="acme/vit", weights=weights, output_dir=tmp_path / "out"))
    assert "--template" in str(err.value)
    forced = export_embedding(EmbeddingConfig(model="acme/vit", weights=weights, template="vit",
                                              output_dir=tmp_path / "out"))
    assert read_provenance(onnx.load(str(forced.onnx_path)))["source"]["template"] == "vit"


def test_hf_hub_id_without_network_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="hf download google/vit-base-patch16-224"):
        export_embedding(EmbeddingConfig(model="google/vit-base-patch16-224", pretrained=True, output_dir=tmp_path))


def test_unknown_name_suggests(tmp_path):
    with pytest.raises(UnknownModelError, match="resnet18"):
        export_embedding(EmbeddingConfig(model="resnt18", random_init=True, output_dir=tmp_path))


def _isc_checkpoint(path: Path, backbone: str = "resnet18", dim: int = 128) -> torch.nn.Module:
    """A checkpoint in the ISC21 descriptor project's own layout (DataParallel keys, argparse args)."""
    from nxport.exporters.isc import IscDescriptor

    torch.manual_seed(1)
    model = IscDescriptor(backbone, fc_dim=dim)
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.1, 0.1)
        model.bn.running_var.uniform_(0.5, 1.5)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"arch": backbone, "args": argparse.Namespace(input_size=160, lr=0.1), "state_dict": state}, path)
    return model.eval()


def test_isc21_checkpoint_loads_and_matches(tmp_path):
    reference = _isc_checkpoint(tmp_path / "isc.pth")
    result = export_embedding(EmbeddingConfig(model="resnet18", source="isc21", weights=tmp_path / "isc.pth",
                                              projection_dim=128, gem_p=1.0, output_dir=tmp_path / "out"))
    assert result.report.outputs[0]["name"] == "embedding-dim:128;norm:l2;pool:gem"
    assert result.report.inputs[0]["shape"] == [1, 3, 160, 160]  # the checkpoint's training input size
    assert conventions.check(result.onnx_path).conformant
    image = torch.from_numpy(nx_preprocess(np.full((160, 160, 3), 90, np.uint8), InputLayout(True, 3, 160, 160),
                                           parse_doc_string(onnx.load(str(result.onnx_path)).graph.doc_string)))
    with torch.no_grad():
        expected = reference(image).numpy()
    got = embed(result.onnx_path, [np.full((160, 160, 3), 90, np.uint8)])
    assert float((expected * got).sum()) > 0.9999


def test_isc21_checkpoint_for_another_backbone_is_refused(tmp_path):
    _isc_checkpoint(tmp_path / "isc.pth")
    with pytest.raises(WeightsError, match="does not fit"):
        export_embedding(EmbeddingConfig(model="resnet34", source="isc21", weights=tmp_path / "isc.pth",
                                         projection_dim=128, output_dir=tmp_path / "out"))
