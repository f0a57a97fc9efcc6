"""Classifier export end to end on real weights and real photos, plus every bad input a user can give."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from nxport import conventions
from nxport.conventions.normalization import parse_doc_string
from nxport.conventions.nx_input import InputLayout, nx_preprocess
from nxport.exporters import ClassifierConfig, export_classifier
from nxport.conventions.contract import read_provenance
from nxport.core.errors import (
    ConfigError,
    InvalidClassNameError,
    LabelCountError,
    OutputExistsError,
    ParityError,
    UnknownModelError,
    UnwritablePathError,
    WeightsError,
    WeightsUnavailableError,
)

REPO = Path(__file__).resolve().parents[1]
IMAGENET_CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


def run_artifact(path: Path, rgb) -> np.ndarray:
    """What the Nx runtime does: stretch, RGB 0..255, (x - means) / vars from the doc_string."""
    import onnxruntime as ort

    model = onnx.load(str(path))
    norm = parse_doc_string(model.graph.doc_string)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    return session.run(None, {feed.name: nx_preprocess(rgb, InputLayout.from_shape(feed.shape), norm)})[0][0]


def no_artifacts(directory: Path) -> bool:
    return not any(p.suffix in (".onnx", ".partial") or p.name.endswith(".report.json") for p in directory.iterdir())


def test_real_weights_classify_real_photos(lite0_artifact, photos):
    probs = run_artifact(lite0_artifact, photos["chelsea"])
    assert int(np.argmax(probs)) in IMAGENET_CAT_CLASSES
    assert sorted(np.argsort(probs)[-3:]) == sorted(i for i in np.argsort(probs)[-3:] if i in IMAGENET_CAT_CLASSES)
    coffee = run_artifact(lite0_artifact, photos["coffee"])
    assert int(np.argmax(coffee)) == ESPRESSO and coffee[ESPRESSO] > 0.8
    assert abs(float(coffee.sum()) - 1.0) < 1e-4


def test_artifact_follows_the_conventions(lite0_artifact):
    report = conventions.check(lite0_artifact)
    assert report.conformant, report.format_text()
    assert not [f for f in report.findings if f.level.value in ("MUST", "SHOULD")]
    model = onnx.load(str(lite0_artifact))
    assert [i.name for i in model.graph.input] == ["image-"]
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 224, 224]
    out = model.graph.output[0].name
    assert out.startswith("scores-0:tench;1:goldfish;") and out.endswith(";999:toilet tissue")
    assert "285:Egyptian cat" in out
    assert json.loads(model.graph.doc_string) == {"means": [127.5] * 3, "vars": [127.5] * 3}  # mean=std=0.5
    assert model.opset_import[0].version == 17 and model.ir_version <= 9


def test_report_and_provenance_record_measured_parity(lite0_artifact):
    report = json.loads(lite0_artifact.with_name("efficientnet_lite0.report.json").read_text())
    parity = report["provenance"]["parity"]
    assert parity["images"] >= 5 and parity["top1_agreement"] == 1.0 and parity["max_abs_diff"] < 1e-4
    assert parity["top1"]["coffee"][1] == "espresso"
    assert report["conformance"]["conformant"] is True
    assert set(report["timings_s"]) >= {"load", "export", "simplify", "parity", "check"}
    provenance = read_provenance(onnx.load(str(lite0_artifact)))
    assert provenance["weights"]["key_mapping"] == "by-position"
    assert provenance["weights"]["file"] == "efficientnet-lite0-57934424.pth"
    assert len(provenance["weights"]["sha256"]) == 64
    assert provenance["preprocessing"]["interpolation"] == "bicubic"
    assert provenance["preprocessing"]["origin"]["mean"] == "model-config"
    assert provenance["labels"]["count"] == 1000 and provenance["opset"] == 17
    assert report["sha256"] and report["size_bytes"] == lite0_artifact.stat().st_size


def test_same_export_twice_gives_the_same_bytes_without_paths(lite0_artifact, lite0_weights, tmp_path):
    again = export_classifier(ClassifierConfig(model="tf_efficientnet_lite0", weights=lite0_weights,
                                               name="efficientnet_lite0", output_dir=tmp_path))
    data = again.onnx_path.read_bytes()
    assert data == lite0_artifact.read_bytes()
    for fragment in (str(REPO).encode(), str(tmp_path).encode(), b"site-packages", b"/home/", b"/tmp/"):
        assert fragment not in data


@pytest.mark.parametrize("opset", [11, 13, 18])
def test_requested_opset_is_honoured(opset, tmp_path):
    result = export_classifier(ClassifierConfig(model="resnet18", random_init=True, opset=opset, num_classes=4,
                                                labels=["cat", "dog", "car", "bus"], output_dir=tmp_path))
    model = onnx.load(str(result.onnx_path))
    assert model.opset_import[0].version == opset and model.ir_version <= 9
    assert conventions.check(result.onnx_path).conformant


def test_attention_model_exports_below_opset_14(tmp_path):
    result = export_classifier(ClassifierConfig(model="vit_tiny_patch16_224", random_init=True, opset=12,
                                                num_classes=3, labels=["a", "b", "c"], output_dir=tmp_path))
    assert result.report.opset == 12
    assert result.report.provenance["parity"]["max_abs_diff"] < 1e-4


def test_sigmoid_head_for_multi_label(tmp_path):
    result = export_classifier(ClassifierConfig(model="resnet18", random_init=True, num_classes=3,
                                                labels=["person", "hat", "vest"], activation="sigmoid",
                                                output_dir=tmp_path))
    model = onnx.load(str(result.onnx_path))
    assert model.graph.node[-1].op_type == "Sigmoid"
    assert conventions.check(result.onnx_path).conformant


@pytest.mark.parametrize("opset", [10, 19, 21])
def test_opset_outside_range_is_refused(opset, tmp_path):
    with pytest.raises(ConfigError, match=r"allowed: 11\.\.18"):
        export_classifier(ClassifierConfig(model="resnet18", random_init=True, opset=opset, output_dir=tmp_path))
    assert no_artifacts(tmp_path)


def test_unknown_model_suggests_close_names(tmp_path):
    with pytest.raises(UnknownModelError) as err:
        export_classifier(ClassifierConfig(model="resnet181", random_init=True, output_dir=tmp_path))
    assert "resnet18" in err.value.suggestions and "resnet181" in str(err.value)
    assert no_artifacts(tmp_path)


def test_corrupt_weights_are_a_typed_error(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint" * 10)
    out = tmp_path / "out"
    with pytest.raises(WeightsError, match="broken.pth"):
        export_classifier(ClassifierConfig(model="resnet18", weights=bad, output_dir=out))
    assert no_artifacts(out)


def test_truncated_real_weights_are_a_typed_error(lite0_weights, tmp_path):
    truncated = tmp_path / "lite0.pth"
    truncated.write_bytes(Path(lite0_weights).read_bytes()[:100_000])
    with pytest.raises(WeightsError, match="Cannot read weights"):
        export_classifier(ClassifierConfig(model="tf_efficientnet_lite0", weights=truncated, output_dir=tmp_path))


def test_weights_of_another_architecture_are_refused(lite0_weights, tmp_path):
    with pytest.raises(WeightsError, match="do not fit this model"):
        export_classifier(ClassifierConfig(model="resnet18", weights=lite0_weights, output_dir=tmp_path))
    assert no_artifacts(tmp_path)


def test_pickled_objects_are_never_unpickled(tmp_path):
    import torch

    pickled = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole module object, not a state dict
    with pytest.raises(WeightsError, match="weights_only|tensors"):
        export_classifier(ClassifierConfig(model="resnet18", weights=pickled, output_dir=tmp_path))


def test_missing_weights_path(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        export_classifier(ClassifierConfig(model="resnet18", weights=tmp_path / "nope.pth", output_dir=tmp_path))


def test_no_weights_source_never_means_random_weights(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="--random-init"):
        export_classifier(ClassifierConfig(model="resnet18", output_dir=tmp_path))
    assert no_artifacts(tmp_path)


def test_hub_unreachable_fails_fast_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailableError, match="--weights PATH"):
        export_classifier(ClassifierConfig(model="resnet18", pretrained=True, output_dir=tmp_path))


def test_label_count_mismatch(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    with pytest.raises(LabelCountError, match="2 class names but the model has 3"):
        export_classifier(ClassifierConfig(model="resnet18", random_init=True, num_classes=3, labels=labels,
                                           output_dir=tmp_path))
    assert no_artifacts(tmp_path)


def test_forbidden_character_names_the_class(tmp_path):
    with pytest.raises(InvalidClassNameError) as err:
        export_classifier(ClassifierConfig(model="resnet18", random_init=True, num_classes=3,
                                           labels=["cat", "dog;wolf", "car"], output_dir=tmp_path))
    assert err.value.class_id == 1 and "dog;wolf" in str(err.value) and "--replace-char" in str(err.value)
    assert no_artifacts(tmp_path)


def test_replace_char_is_explicit_opt_in(tmp_path):
    result = export_classifier(ClassifierConfig(model="resnet18", random_init=True, num_classes=3,
                                                labels=["cat", "dog;wolf", "a:b"], replace_char="_",
                                                output_dir=tmp_path))
    assert result.report.outputs[0]["name"] == "scores-0:cat;1:dog_wolf;2:a_b"


@pytest.mark.parametrize("text,suffix", [
    ("cat\ndog\ncar\n", ".txt"),
    ('["cat", "dog", "car"]', ".json"),
    ('{"0": "cat", "1": "dog", "2": "car"}', ".json"),
])
def test_labels_file_formats(text, suffix, tmp_path):
    labels = tmp_path / f"labels{suffix}"
    labels.write_text(text)
    result = export_classifier(ClassifierConfig(model="resnet18", random_init=True, num_classes=3, labels=labels,
                                                output_dir=tmp_path / "out"))
    assert result.report.outputs[0]["name"] == "scores-0:cat;1:dog;2:car"


def test_existing_artifact_is_never_overwritten_silently(tmp_path):
    config = ClassifierConfig(model="resnet18", random_init=True, num_classes=2, labels=["a", "b"],
                              output_dir=tmp_path)
    first = export_classifier(config).onnx_path.read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        export_classifier(config)
    assert (tmp_path / "resnet18.onnx").read_bytes() == first
    config.overwrite = True
    export_classifier(config)


def test_unwritable_output_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UnwritablePathError):
        export_classifier(ClassifierConfig(model="resnet18", random_init=True, output_dir=blocker / "sub"))


def test_failed_parity_leaves_no_file(tmp_path):
    # A tolerance no float32 graph can meet makes the parity stage fail for real.
    with pytest.raises(ParityError, match="tolerance"):
        export_classifier(ClassifierConfig(model="resnet18", random_init=True, num_classes=2, labels=["a", "b"],
                                           parity_atol=0.0, output_dir=tmp_path,
                                           simplify=False))
    assert no_artifacts(tmp_path)


def test_failure_while_writing_leaves_no_partial_file(tmp_path, monkeypatch):
    import nxport.exporters.report as report_module

    def explode(self):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C half way through writing
    monkeypatch.setattr(report_module.ExportReport, "to_json", explode)
    with pytest.raises(KeyboardInterrupt):
        export_classifier(ClassifierConfig(model="resnet18", random_init=True, num_classes=2, labels=["a", "b"],
                                           output_dir=tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_resnet18_example_without_weights_stops_clearly(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "examples/resnet18/export_to_onnx.py"), "--output-dir",
                           str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert "--weights PATH" in proc.stderr and "Traceback" not in proc.stderr
    assert no_artifacts(tmp_path)


def test_resnet18_example_with_local_safetensors(tmp_path):
    import timm
    from safetensors.torch import save_file

    weights = tmp_path / "resnet18.safetensors"
    save_file(timm.create_model("resnet18", num_classes=5).state_dict(), str(weights))
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(["helmet", "vest", "person", "forklift", "pallet"]))
    proc = subprocess.run([sys.executable, str(REPO / "examples/resnet18/export_to_onnx.py"), "--output-dir",
                           str(tmp_path / "out"), "--weights", str(weights), "--labels", str(labels)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "CONFORMANT" in proc.stdout and "top-1 agreement 100%" in proc.stdout
    model = onnx.load(str(tmp_path / "out/resnet18.onnx"))
    assert model.graph.output[0].name == "scores-0:helmet;1:vest;2:person;3:forklift;4:pallet"
    assert read_provenance(model)["weights"]["key_mapping"] == "by-name"
