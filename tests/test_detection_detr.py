"""DETR family: a YOLOS detector (transformers, random init from a tiny config) to a bboxes- artifact.
The tail is compared with transformers' own post_process_object_detection on identical raw tensors;
the whole artifact with PyTorch + that post-processing (YOLOS random-init export is exact)."""

from __future__ import annotations

import numpy as np
import pytest

from nxport.exporters.detection_config import DetectionConfig
from nxport.exporters.detection_reference import detr_reference_rows
from nxport.core.sessions import cpu_session

TINY_YOLOS = {"model_type": "yolos", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
              "intermediate_size": 64, "image_size": [64, 96], "patch_size": 16, "num_detection_tokens": 10,
              "num_labels": 3}


@pytest.fixture(scope="module")
def yolos(tmp_path_factory, photos):
    from PIL import Image

    import torch

    from nxport.exporters.detection import export_detection

    torch.manual_seed(0)  # transformers' random init draws from torch's global generator
    folder = tmp_path_factory.mktemp("yolos")
    (folder / "photos").mkdir()
    for name in ("astronaut", "coffee"):
        Image.fromarray(photos[name]).save(folder / "photos" / f"{name}.png")
    return export_detection(DetectionConfig(model="hustvl/yolos-tiny", random_init=True, hf_config=TINY_YOLOS,
                                            output_dir=folder, split=True, parity_images=folder / "photos"))


def test_yolos_artifact_is_conformant_and_matches_pytorch(yolos):
    report = yolos.report
    assert report.conformance["conformant"] and report.outputs[0]["shape"] == ["detections", 6]
    assert report.outputs[0]["name"] == "bboxes-format:xyxysc;0:LABEL_0;1:LABEL_1;2:LABEL_2"
    parity = report.provenance["parity"]
    assert parity["reference"].startswith("PyTorch + transformers") and parity["all_classes_match"]
    assert parity["min_iou"] >= 0.99 and parity["max_score_diff"] <= 1e-5
    assert all(got == expected for got, expected in parity["rows"].values())
    assert all(parity["rows"][f"{photo}.png@0.05"][0] > 0 for photo in ("astronaut", "coffee"))
    assert report.provenance["head"] == {"layout": "detr-softmax", "raw_output": "raw_head", "raw_shape": [1, 10, 8],
                                         "classes": 3}
    assert report.provenance["preprocessing"]["means_0_255"] == [123.675, 116.28, 103.53]


def test_tail_equals_transformers_post_processing_on_identical_raw_tensors(yolos):
    """Raw tensors with spread-out scores (sharp logits) so that the thresholds really cut."""
    post = cpu_session(yolos.onnx_path.with_name(yolos.onnx_path.stem + ".post.onnx"), threads=1)
    rng = np.random.default_rng(0)
    compared = 0
    for trial in range(5):
        raw = np.concatenate([rng.uniform(0.1, 0.9, (1, 10, 4)), rng.normal(0, 3, (1, 10, 4))], axis=2)
        raw = raw.astype(np.float32)
        for threshold in (0.05, 0.3, 0.6, 0.9):
            got = post.run(None, {"raw_head": raw, "nms_sensitivity-": np.array([threshold], np.float32),
                                  "mask-": np.ones((64, 96), bool)})[0]
            expected = detr_reference_rows(raw, threshold, 64, 96)
            assert got.shape == expected.shape
            assert np.array_equal(got[:, 5], expected[:, 5])
            assert np.allclose(got[:, :4], expected[:, :4], atol=1e-4)
            assert np.allclose(got[:, 4], expected[:, 4], atol=1e-6)
            compared += len(got)
    assert compared > 20


def test_unsupported_detr_family_is_a_typed_error(tmp_path):
    from nxport.exporters.detection import export_detection
    from nxport.core.errors import DetectorHeadError

    with pytest.raises(DetectorHeadError, match="rt_detr.*RT-DETR"):
        export_detection(DetectionConfig(model="PekingU/rtdetr_r18vd", random_init=True,
                                         hf_config={"model_type": "rt_detr"}, output_dir=tmp_path))


# --- hustvl/yolos-tiny's image_size [800, 1333]: not a multiple of the patch size ------------------------

@pytest.fixture(scope="module")
def yolos_800x1333(tmp_path_factory, yolos):
    """A save_pretrained directory whose config has yolos-tiny's image_size and transformers' default mid
    position table: as saved, it fails in PyTorch itself at every input size."""
    import torch
    import transformers

    torch.manual_seed(0)
    kwargs = {k: v for k, v in TINY_YOLOS.items() if k != "model_type"}
    model = transformers.YolosForObjectDetection(transformers.YolosConfig(**{**kwargs, "image_size": [800, 1333]}))
    folder = tmp_path_factory.mktemp("yolos_800x1333")
    model.save_pretrained(folder / "weights")
    with pytest.raises(RuntimeError, match="shape"), torch.no_grad():
        model.eval()(pixel_values=torch.zeros(1, 3, 800, 1333))
    return folder


@pytest.mark.parametrize("input_size,source", [(None, "config image_size"), ((512, 512), "--input-size")])
def test_yolos_800x1333_exports_at_its_config_size_and_at_512(yolos_800x1333, yolos, input_size, source):
    from nxport.exporters.detection import export_detection

    photos = yolos.onnx_path.parent / "photos"
    result = export_detection(DetectionConfig(model="hustvl/yolos-tiny", weights=yolos_800x1333 / "weights",
                                              input_size=input_size, output_dir=yolos_800x1333 / source,
                                              parity_images=photos))
    height, width = input_size or (800, 1333)
    report = result.report
    assert report.conformance["conformant"] and report.inputs[0]["shape"] == [1, 3, height, width]
    assert report.provenance["preprocessing"]["input_size_source"] == source
    assert report.provenance["source"]["repairs"]["mid_position_table"] == {
        "patch_rows": 4165, "kept": 4150, "cause": "transformers sizes it floor(H*W/p^2) = 4165 but reads 50x83 "
                                                   "(image_size [800, 1333] is not a multiple of patch_size 16)"}
    parity = report.provenance["parity"]
    assert parity["reference"].startswith("PyTorch + transformers") and parity["all_classes_match"]
    assert parity["min_iou"] >= 0.99 and parity["max_score_diff"] <= 1e-4
    assert all(got == expected for got, expected in parity["rows"].values())
    assert all(parity["rows"][f"{photo}.png@0.05"][0] > 0 for photo in ("astronaut", "coffee"))


def test_a_model_failing_in_eager_pytorch_is_named_not_blamed_on_the_opset(yolos_800x1333):
    from nxport.exporters.detection import export_detection
    from nxport.core.errors import EagerForwardError

    with pytest.raises(EagerForwardError) as info:
        export_detection(DetectionConfig(model="hustvl/yolos-tiny", weights=yolos_800x1333 / "weights",
                                         input_size=(8, 8), output_dir=yolos_800x1333 / "tiny"))
    message = str(info.value)
    assert "eager PyTorch" in message and "(1, 3, 8, 8)" in message and "Kernel size" in message, message
    assert "no --opset can fix this" in message and "try another --opset" not in message
    assert not list((yolos_800x1333 / "tiny").glob("*.onnx"))
