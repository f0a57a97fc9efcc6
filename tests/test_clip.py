"""CLIP: tokenizer id parity with open_clip, matched image/text pairs from both sources, zero-shot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from nxport import conventions
from nxport.conventions.normalization import parse_doc_string
from nxport.conventions.nx_input import InputLayout, nx_preprocess
from nxport.exporters.clip import ClipConfig, export_clip
from nxport.exporters.clip_tokenizer import ClipTokenizer, load_tokenizer
from nxport.core.errors import ConfigError, InvalidClassNameError, OutputExistsError, ParityError

REPO = Path(__file__).resolve().parents[1]
TINY_HF = {
    "text_config": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
                    "max_position_embeddings": 77},
    "vision_config": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128,
                      "image_size": 64, "patch_size": 16},
    "projection_dim": 32,
}
TINY_OPEN_CLIP = {"embed_dim": 32,
                  "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
                  "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2}}

TRICKY = [
    "a photo of a cat", "A PHOTO OF A CAT!!", "dog's toy, isn't it? they'll've", "3.14159 and 42 cats, 1,000,000",
    "café naïve résumé Ünïcödé", "日本語のテキスト", "emoji 🐱🚀👍🏽 ❤️", "  lots \t of\n whitespace  ", "&amp; html &lt;b&gt;",
    "ﬁ ligature and ½ fraction", "hello-world_foo/bar@baz.com", "<|startoftext|> literal <|endoftext|>", "",
    "x" * 300, " ".join(["word"] * 100), "mixedCase CamelCaseWords", "“smart quotes” — dashes…",
]


@pytest.fixture(scope="module")
def tokenizer() -> ClipTokenizer:
    return ClipTokenizer.from_bpe_file()


def test_tokenizer_ids_equal_open_clip_on_tricky_strings(tokenizer):
    import open_clip

    reference = open_clip.get_tokenizer("ViT-B-32")(TRICKY).numpy()
    ours = tokenizer(TRICKY)
    assert ours.dtype == np.int64 and ours.shape == (len(TRICKY), 77)
    mismatched = [s for s, a, b in zip(TRICKY, ours, reference) if not np.array_equal(a, b)]
    assert mismatched == []
    assert list(ours[0][:8]) == [49406, 320, 1125, 539, 320, 2368, 49407, 0]


def test_truncation_keeps_end_of_text_last(tokenizer):
    ids = tokenizer(" ".join(["word"] * 100))[0]
    assert ids[0] == 49406 and ids[-1] == 49407 and (ids != 0).all()


def test_saved_tokenizer_round_trips_and_loads_in_transformers(tokenizer, tmp_path):
    import transformers

    tokenizer.save(tmp_path)
    assert np.array_equal(load_tokenizer(tmp_path)(TRICKY), tokenizer(TRICKY))
    hf = transformers.CLIPTokenizer.from_pretrained(str(tmp_path))
    assert hf("a photo of a cat")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(json.loads((tmp_path / "vocab.json").read_text())) == 49408


def _run(path: Path, feed: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: feed})[0]


def _image_feed(path: Path, rgb) -> np.ndarray:
    model = onnx.load(str(path))
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return nx_preprocess(rgb, InputLayout.from_shape(shape), parse_doc_string(model.graph.doc_string))


def _assert_pair(result, photos):
    paths = result.paths
    for kind in ("img", "txt", "zeroshot"):
        report = conventions.check(paths[kind])
        assert report.conformant, report.format_text()
    txt = onnx.load(str(paths["txt"]))
    assert txt.graph.input[0].name == "tokens-" and txt.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert [d.dim_value for d in txt.graph.input[0].type.tensor_type.shape.dim] == [1, 77]
    assert result.report["pair_agreement"]["max_abs_diff"] <= 1e-4
    # The zero-shot artifact equals softmax(scale * image @ text.T) computed from the pair itself.
    tok = load_tokenizer(paths["tokenizer"])
    text = np.concatenate([_run(paths["txt"], tok(f"a photo of a {c}.")) for c in ("cat", "dog", "car")])
    image = _run(paths["img"], _image_feed(paths["img"], photos["chelsea"]))
    assert np.allclose(np.linalg.norm(text, axis=1), 1, atol=1e-4) and image.shape == (1, text.shape[1])
    scale = json.loads(txt.metadata_props[0].value)["pair"]["logit_scale"]
    logits = scale * image @ text.T
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    got = _run(paths["zeroshot"], _image_feed(paths["zeroshot"], photos["chelsea"]))
    assert np.allclose(got, expected, atol=1e-5)


def test_hf_pair_and_zero_shot(tmp_path, photos):
    result = export_clip(ClipConfig(model="tiny-hf-clip", source="hf", random_init=True, hf_config=TINY_HF,
                                    zero_shot=["cat", "dog", "car"], output_dir=tmp_path))
    assert {p.name for p in tmp_path.iterdir()} == {"tiny_hf_clip_img.onnx", "tiny_hf_clip_txt.onnx",
                                                    "tiny_hf_clip_zeroshot.onnx", "tiny_hf_clip_tokenizer",
                                                    "tiny_hf_clip.report.json"}
    _assert_pair(result, photos)


@pytest.fixture(scope="module")
def open_clip_config(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("occfg") / "nxport-tiny-clip.json"
    path.write_text(json.dumps(TINY_OPEN_CLIP))
    return path


def test_open_clip_pair_and_zero_shot(tmp_path, photos, open_clip_config):
    result = export_clip(ClipConfig(model=str(open_clip_config), random_init=True, zero_shot=["cat", "dog", "car"],
                                    output_dir=tmp_path))
    assert result.report["artifacts"]["img"]["provenance"]["source"]["library"] == "open_clip"
    _assert_pair(result, photos)


def test_open_clip_checkpoint_file_is_the_real_weights_path(tmp_path, open_clip_config, photos):
    import open_clip
    from safetensors.torch import save_file

    open_clip.add_model_config(open_clip_config)
    torch.manual_seed(3)
    model = open_clip.create_model("nxport-tiny-clip").eval()
    save_file(model.state_dict(), str(tmp_path / "tiny.safetensors"))
    result = export_clip(ClipConfig(model=str(open_clip_config), weights=tmp_path / "tiny.safetensors",
                                    output_dir=tmp_path / "out"))
    tokens = load_tokenizer(result.paths["tokenizer"])("a photo of a cat")
    with torch.no_grad():
        expected = model.encode_text(torch.from_numpy(tokens), normalize=True).numpy()
    assert np.allclose(_run(result.paths["txt"], tokens), expected, atol=1e-5)


def test_hf_local_directory_via_cli(tmp_path, photos):
    import transformers

    torch.manual_seed(4)
    model = transformers.CLIPModel(transformers.CLIPConfig(**TINY_HF)).eval()
    model.save_pretrained(tmp_path / "clip")
    transformers.CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(
        tmp_path / "clip")
    ClipTokenizer.from_bpe_file().save(tmp_path / "clip")
    proc = subprocess.run([sys.executable, str(REPO / "examples/clip/export_to_onnx.py"), "--output-dir",
                           str(tmp_path / "out"), "--weights", str(tmp_path / "clip"), "--zero-shot", "cat,dog"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "CONFORMANT" in proc.stdout and "NOT CONFORMANT" not in proc.stdout
    image_path = tmp_path / "out/clip_vit_b32_img.onnx"
    feed = _image_feed(image_path, photos["coffee"])
    with torch.no_grad():
        expected = model.get_image_features(pixel_values=torch.from_numpy(feed)).pooler_output
    expected = (expected / expected.norm(dim=1, keepdim=True)).numpy()
    assert float((_run(image_path, feed) * expected).sum()) > 0.9999


def test_example_random_init_full_size(tmp_path):
    """The acceptance interface: the real ViT-B/32 architecture, random weights, with zero-shot."""
    proc = subprocess.run([sys.executable, str(REPO / "examples/clip/export_to_onnx.py"), "--output-dir",
                           str(tmp_path), "--random-init", "--zero-shot", "cat,dog,car"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    for name in ("clip_vit_b32_img.onnx", "clip_vit_b32_txt.onnx", "clip_vit_b32_zeroshot.onnx",
                 "clip_vit_b32_tokenizer/vocab.json", "clip_vit_b32_tokenizer/merges.txt", "clip_vit_b32.report.json"):
        assert (tmp_path / name).is_file(), name
    report = json.loads((tmp_path / "clip_vit_b32.report.json").read_text())
    assert report["artifacts"]["img"]["outputs"][0]["name"] == "embedding-dim:512;norm:l2;pool:cls"


def test_bad_inputs_leave_nothing_behind(tmp_path):
    with pytest.raises(InvalidClassNameError, match="dog;wolf"):
        export_clip(ClipConfig(model="t", source="hf", random_init=True, hf_config=TINY_HF,
                               zero_shot=["cat", "dog;wolf"], output_dir=tmp_path))
    with pytest.raises(ConfigError, match="must each contain"):
        ClipConfig(model="t", templates=("a photo",))
    with pytest.raises(ParityError):
        export_clip(ClipConfig(model="t", source="hf", random_init=True, hf_config=TINY_HF, pair_atol=0.0,
                               output_dir=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_existing_pair_is_not_overwritten(tmp_path):
    config = ClipConfig(model="t", source="hf", random_init=True, hf_config=TINY_HF, output_dir=tmp_path)
    export_clip(config)
    before = (tmp_path / "t_img.onnx").read_bytes()
    with pytest.raises(OutputExistsError):
        export_clip(config)
    assert (tmp_path / "t_img.onnx").read_bytes() == before


def test_open_clip_checkpoint_of_another_config_names_the_cause(tmp_path, open_clip_config):
    """The cause (which keys, which shapes) survives; the fix names a flag that exists."""
    import open_clip
    from safetensors.torch import save_file

    from nxport.core.errors import WeightsError

    wider = tmp_path / "nxport-tiny-clip-wide.json"
    wider.write_text(json.dumps({**TINY_OPEN_CLIP, "embed_dim": 48}))
    open_clip.add_model_config(wider)
    save_file(open_clip.create_model("nxport-tiny-clip-wide").state_dict(), str(tmp_path / "wide.safetensors"))
    with pytest.raises(WeightsError) as err:
        export_clip(ClipConfig(model=str(open_clip_config), weights=tmp_path / "wide.safetensors",
                               output_dir=tmp_path / "out"))
    message = str(err.value)
    assert "size mismatch for" in message and "torch.Size([64, 48])" in message, message
    assert "--open-clip-config" not in message and "pass as --model the open_clip config" in message
