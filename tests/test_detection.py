"""Detector export on a real YOLOv8n (nudenet 3.4.2's 320n.onnx, a raw Ultralytics export): the
artifact's rows vs an independent decode (numpy + torchvision.ops.batched_nms) on real photos, the
mask and threshold inputs, the network + post split, the reference runtime, and typed bad inputs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from nxport.conventions.normalization import Normalization
from nxport.exporters.detection_config import DetectionConfig, HeadLayout
from nxport.exporters.detection_reference import bottom_centre_inside, box_iou, match_rows, reference_rows
from nxport.core.sessions import cpu_session

REPO = Path(__file__).resolve().parents[1]
NAME = "yolov8n_face"
FACE_FEMALE = 1
THRESHOLDS = (0.05, 0.15, 0.25, 0.5)
PHOTOS = ("astronaut", "grace_hopper", "chelsea", "coffee")
NORM = Normalization((0.0, 0.0, 0.0), (255.0, 255.0, 255.0))
IOU, MAX_DET = 0.7, 300


def nudenet_onnx() -> Path:
    spec = importlib.util.find_spec("nudenet")
    assert spec is not None, "pip install --no-deps nudenet==3.4.2 (setup.sh does)"
    return Path(list(spec.submodule_search_locations)[0]) / "320n.onnx"


@pytest.fixture(scope="session")
def detector(tmp_path_factory) -> dict:
    """The example run as a user runs it, with --split: the real detector exported once per session."""
    out = tmp_path_factory.mktemp("detector")
    proc = subprocess.run([sys.executable, str(REPO / "examples/yolov8_face/export_to_onnx.py"), "--output-dir",
                           str(out), "--split"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"dir": out, "stdout": proc.stdout, "stderr": proc.stderr, "onnx": out / f"{NAME}.onnx",
            "report": out / f"{NAME}.report.json",
            "network": out / f"{NAME}.network.onnx", "post": out / f"{NAME}.post.onnx"}


@pytest.fixture(scope="session")
def sessions(detector) -> dict:
    return {"artifact": cpu_session(detector["onnx"], threads=1),
            "original": cpu_session(nudenet_onnx(), threads=1)}


def feeds(rgb, threshold: float, mask=None) -> dict:
    from nxport.conventions.nx_input import InputLayout, nx_preprocess

    image = nx_preprocess(rgb, InputLayout.from_shape((1, 3, 320, 320)), NORM)
    return {"image-": image, "nms_sensitivity-": np.array([threshold], np.float32),
            "mask-": np.ones((320, 320), bool) if mask is None else mask}


def rows_and_reference(sessions, rgb, threshold: float, mask=None) -> tuple[np.ndarray, np.ndarray]:
    f = feeds(rgb, threshold, mask)
    got = sessions["artifact"].run(None, f)[0]
    raw = sessions["original"].run(None, {"images": f["image-"]})[0]
    return got, reference_rows(raw, HeadLayout.YOLO_RAW, threshold, IOU, MAX_DET, mask)


def test_example_prints_checks_parity_size_next_steps(detector):
    out = detector["stdout"]
    assert "CONFORMANT" in out and "NOT CONFORMANT" not in out
    assert "parity" in out and "MB" in out and "next" in out and "bit-identical" in out
    model = onnx.load(str(detector["onnx"]))
    assert model.ir_version <= 9 and model.opset_import[0].version <= 17
    assert [i.name for i in model.graph.input] == ["image-", "nms_sensitivity-", "mask-"]
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 320, 320] and json.loads(model.graph.doc_string) == {"means": [0.0] * 3, "vars": [255.0] * 3}
    output = model.graph.output[0]
    assert output.name.startswith("bboxes-format:xyxysc;0:FEMALE_GENITALIA_COVERED;1:FACE_FEMALE;")
    assert [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim] == ["detections", 6]
    report = json.loads(detector["report"].read_text())
    assert report["provenance"]["tail"]["iou"] == IOU and report["provenance"]["head"]["raw_shape"] == [1, 22, 2100]
    assert report["provenance"]["split"]["cut"] == "output0"


@pytest.mark.parametrize("photo", PHOTOS)
def test_rows_match_the_independent_reference(photo, sessions, photos):
    """Same row count, same class per matched row, IoU >= 0.99, |score diff| <= 1e-3 at every threshold."""
    for threshold in THRESHOLDS:
        got, expected = rows_and_reference(sessions, photos[photo], threshold)
        match = match_rows(got, expected)
        print(f"{photo}@{threshold}: {match.to_dict()}")
        assert match.ok(0.99, 1e-3), (photo, threshold, match)
        assert got.dtype == np.float32 and got.shape[1] == 6


def test_astronaut_face_and_no_cat_detection(sessions, photos):
    got, _ = rows_and_reference(sessions, photos["astronaut"], 0.25)
    faces = got[got[:, 5] == FACE_FEMALE]
    assert len(faces) == 1 and faces[0, 4] > 0.7
    face_in_photo = np.array([[170, 80, 280, 190]]) * 320 / 512  # Eileen Collins' face in skimage's 512x512 photo
    assert box_iou(faces[:, :4], face_in_photo)[0, 0] > 0.6
    cat, _ = rows_and_reference(sessions, photos["chelsea"], 0.25)
    assert cat.shape == (0, 6)


def test_threshold_one_gives_no_rows(sessions, photos):
    got, _ = rows_and_reference(sessions, photos["astronaut"], 1.0)
    assert got.shape == (0, 6) and got.dtype == np.float32


def test_mask_all_true_all_false_and_half(detector, sessions, photos):
    from nxport.exporters.detection_tail import TailSpec, build_tail

    network = cpu_session(detector["network"], threads=1)
    no_mask_tail = build_tail(TailSpec(HeadLayout.YOLO_RAW, "output0", (1, 22, 2100), 320, 320, "bboxes-x", IOU,
                                       MAX_DET, True, False, 0.25, 17, 9))
    no_mask = cpu_session(no_mask_tail.SerializeToString(), threads=1)
    top_half = np.zeros((320, 320), bool)
    top_half[:160] = True
    kept_total = removed_total = 0
    for photo in ("astronaut", "grace_hopper", "coffee"):
        f = feeds(photos[photo], 0.05)
        raw = network.run(None, {"image-": f["image-"]})[0]
        unmasked = no_mask.run(None, {"output0": raw, "nms_sensitivity-": f["nms_sensitivity-"]})[0]
        assert np.array_equal(sessions["artifact"].run(None, f)[0], unmasked)  # all-true mask == no mask
        assert sessions["artifact"].run(None, {**f, "mask-": np.zeros((320, 320), bool)})[0].shape == (0, 6)
        half = sessions["artifact"].run(None, {**f, "mask-": top_half})[0]
        bottom_centre_y = np.clip(unmasked[:, 3], 0, 319).astype(int)
        assert np.array_equal(half, unmasked[bottom_centre_y < 160])
        assert np.array_equal(half, unmasked[bottom_centre_inside(unmasked, top_half)])
        kept_total, removed_total = kept_total + len(half), removed_total + len(unmasked) - len(half)
    assert kept_total > 0 and removed_total > 0  # the half mask really split the boxes


def test_split_composes_to_the_single_artifact(detector, sessions, photos):
    network, post = cpu_session(detector["network"], threads=1), cpu_session(detector["post"], threads=1)
    assert [i.name for i in post.get_inputs()] == ["output0", "nms_sensitivity-", "mask-"]
    f = feeds(photos["grace_hopper"], 0.05)
    raw = network.run(None, {"image-": f["image-"]})[0]
    composed = post.run(None, {"output0": raw, "nms_sensitivity-": f["nms_sensitivity-"], "mask-": f["mask-"]})[0]
    assert len(composed) > 0 and np.array_equal(composed, sessions["artifact"].run(None, f)[0])


def test_same_rows_in_the_reference_runtime(detector, sessions, photos):
    from nxport.conventions._reference.runtime import reference_python, run_reference

    python = reference_python()
    assert python is not None, "run ./setup.sh: it creates .venv-nx-reference (onnxruntime 1.17.3)"
    data = detector["onnx"].read_bytes()
    for photo, threshold in (("astronaut", 0.05), ("grace_hopper", 0.15), ("chelsea", 0.25)):
        f = feeds(photos[photo], threshold)
        result = run_reference(data, f, python)
        assert result["ok"] and result["onnxruntime"] == "1.17.3", result
        current = sessions["artifact"].run(None, f)[0]
        old = result["values"][0]
        assert old.shape == current.shape and np.allclose(old, current, atol=1e-4), (photo, old, current)


def test_same_export_twice_gives_the_same_bytes(detector, tmp_path):
    from nxport.exporters.detection import export_detection

    result = export_detection(DetectionConfig(weights=nudenet_onnx(), name=NAME, split=True, output_dir=tmp_path))
    assert result.onnx_path.read_bytes() == detector["onnx"].read_bytes()


def test_dropped_inputs_bake_the_threshold(tmp_path, photos):
    from nxport.exporters.detection import export_detection

    result = export_detection(DetectionConfig(weights=nudenet_onnx(), input_size=(320, 320), threshold_input=False,
                                              mask_input=False, threshold=0.25, output_dir=tmp_path))
    session = cpu_session(result.onnx_path, threads=1)
    assert [i.name for i in session.get_inputs()] == ["image-"]
    got = session.run(None, {"image-": feeds(photos["astronaut"], 0.25)["image-"]})[0]
    assert [int(c) for c in got[:, 5]] == [FACE_FEMALE]
    assert result.report.provenance["tail"]["threshold"]["baked"] == 0.25


# --- bad inputs: each a typed error naming the value and the fix ------------------------------------


def tiny_model(path: Path, text: str, initializers=(), names: str | None = None) -> Path:
    from onnx import numpy_helper, parser

    model = parser.parse_model(text)
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in initializers)
    if names:
        entry = model.metadata_props.add()
        entry.key, entry.value = "names", names
    onnx.save(model, str(path))
    return path


CLASSIFIER = """<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 3, 32, 32] images) => (float[1, 3] out) { p = GlobalAveragePool(images)
 out = Flatten(p) }"""
UNKNOWN = """<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 3, 32, 32] images) => (float[1, 3, 32, 32] out) { out = Relu(images) }"""
END2END = """<ir_version: 8, opset_import: ["" : 17]>
g (float[batch, 3, height, width] images) => (float[1, 300, 6] out) {
 m = ReduceMean <keepdims = 0> (images)
 z = Mul(m, zero)
 out = Add(rows, z) }"""


def end2end_rows() -> np.ndarray:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 48, (300, 2)).astype(np.float32)
    rows = np.concatenate([xy, xy + rng.uniform(1, 16, (300, 2)).astype(np.float32),
                           rng.uniform(0, 1, (300, 1)).astype(np.float32),
                           rng.integers(0, 3, (300, 1)).astype(np.float32)], axis=1)
    return rows[None]


def test_end2end_head_is_thresholded_not_suppressed(tmp_path, photos):
    from nxport.exporters.detection import export_detection

    rows = end2end_rows()
    weights = tiny_model(tmp_path / "e2e.onnx", END2END, [("rows", rows), ("zero", np.array(0, np.float32))],
                         names="{0: 'person', 1: 'car', 2: 'dog'}")
    result = export_detection(DetectionConfig(weights=weights, input_size=(64, 64), output_dir=tmp_path / "out"))
    assert result.report.provenance["head"]["layout"] == "yolo-end2end"
    assert result.report.outputs[0]["name"] == "bboxes-format:xyxysc;0:person;1:car;2:dog"
    session = cpu_session(result.onnx_path, threads=1)
    mask = np.zeros((64, 64), bool)
    mask[:, :32] = True
    for threshold, m in ((0.3, None), (0.7, mask), (1.0, None)):
        got = session.run(None, {**{k: v for k, v in feeds(photos["coffee"], threshold, m).items() if k != "image-"},
                                 "image-": np.zeros((1, 3, 64, 64), np.float32),
                                 "mask-": np.ones((64, 64), bool) if m is None else m})[0]
        expected = rows[0][rows[0][:, 4] > threshold]
        if m is not None:
            expected = expected[np.clip((expected[:, 0] + expected[:, 2]) / 2, 0, 63).astype(int) < 32]
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("case,error,words", [
    ("classifier", "DetectorHeadError", ["classifier", "nxport export classification"]),
    ("unknown", "DetectorHeadError", ["[1, 3, 32, 32]", "[1, 4+C, N]"]),
])
def test_wrong_model_kinds_are_typed_errors(case, error, words, tmp_path):
    from nxport.exporters.detection import export_detection

    weights = tiny_model(tmp_path / f"{case}.onnx", CLASSIFIER if case == "classifier" else UNKNOWN)
    with pytest.raises(Exception) as info:
        export_detection(DetectionConfig(weights=weights, labels=["a", "b", "c"], output_dir=tmp_path / "out"))
    assert type(info.value).__name__ == error and all(w in str(info.value) for w in words), str(info.value)
    assert not list(tmp_path.glob("*.report.json"))


@pytest.mark.parametrize("overrides,error,words", [
    ({"input_size": (300, 300)}, "DynamicInputError", ["stride 32", "--input-size 288 288"]),
    ({"labels": ["face", "person", "car"]}, "LabelCountError", ["3 class names", "18"]),
    ({"iou": 1.5}, "ConfigError", ["iou 1.5", "[0, 1]", "--iou"]),
    ({"threshold": -0.1}, "ConfigError", ["threshold -0.1", "[0, 1]"]),
    ({"max_detections": 0}, "ConfigError", ["max_detections 0", "--max-detections 300"]),
])
def test_bad_options_are_typed_errors_with_the_fix(overrides, error, words, tmp_path):
    from nxport.exporters.detection import export_detection
    from nxport.core.errors import NxportError

    options = {"weights": nudenet_onnx(), "input_size": (320, 320), "output_dir": tmp_path, **overrides}
    with pytest.raises(NxportError) as info:
        export_detection(DetectionConfig(**options))
    assert type(info.value).__name__ == error and all(w in str(info.value) for w in words), str(info.value)
    assert info.value.fix


def without_imgsz(folder: Path) -> Path:
    """The shipped export with its `imgsz` metadata dropped: a dynamic input nothing says the size of."""
    model = onnx.load(str(nudenet_onnx()))
    kept = [(p.key, p.value) for p in model.metadata_props if p.key != "imgsz"]
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, dict(kept))
    onnx.save(model, str(folder / "no_imgsz.onnx"))
    return folder / "no_imgsz.onnx"


def test_dynamic_input_without_imgsz_is_a_typed_error(tmp_path):
    from nxport.exporters.detection import export_detection
    from nxport.core.errors import DynamicInputError

    with pytest.raises(DynamicInputError) as info:
        export_detection(DetectionConfig(weights=without_imgsz(tmp_path), output_dir=tmp_path / "out"))
    message = str(info.value)
    assert "dynamic input" in message and "no imgsz metadata" in message and "--input-size H W" in message, message


def test_dynamic_input_defaults_to_the_imgsz_metadata(detector):
    """The shipped 320n.onnx is what Ultralytics writes with dynamic=True: symbolic H, W and imgsz [320, 320].
    The example passes no --input-size, so its artifact is the default path."""
    original = onnx.load(str(nudenet_onnx()))
    assert [d.dim_param for d in original.graph.input[0].type.tensor_type.shape.dim] == ["batch", "", "height",
                                                                                          "width"]
    assert {p.key: p.value for p in original.metadata_props}["imgsz"] == "[320, 320]"
    assert "using its imgsz metadata 320x320 (--input-size H W overrides)" in detector["stderr"]
    assert "[1, 3, 320, 320]  (H x W from export metadata imgsz)" in detector["stdout"]
    report = json.loads(detector["report"].read_text())
    assert report["provenance"]["preprocessing"]["input_size_source"] == "export metadata imgsz"


def test_input_size_wins_over_the_imgsz_metadata(tmp_path):
    from nxport.exporters.detection import export_detection

    result = export_detection(DetectionConfig(weights=nudenet_onnx(), input_size=(256, 416), output_dir=tmp_path))
    assert result.report.inputs[0]["shape"] == [1, 3, 256, 416]
    assert result.report.provenance["preprocessing"]["input_size_source"] == "--input-size"
    assert result.report.provenance["parity"]["min_iou"] >= 0.99


def test_cli_is_wired_and_fails_with_exit_2(tmp_path, capsys):
    from nxport.exporters import get_task
    from nxport.cli import main

    assert get_task("detection").config_type is DetectionConfig
    assert main(["export", "detection", "--weights", str(without_imgsz(tmp_path)), "--output-dir",
                 str(tmp_path / "out")]) == 2
    assert "DynamicInputError" in capsys.readouterr().err


def test_checker_detection_profile_on_the_real_artifact(detector, photos):
    from nxport import conventions

    report = conventions.check(detector["onnx"], image=photos["astronaut"])
    assert report.conformant, report.format_text()
    counts = next(iter(report.runtime["detection"].values()))["rows_per_threshold"]
    assert counts["0.05"] >= counts["0.25"] >= 1 and counts["all_false_mask"] == 0


# --- POST /detect over real HTTP ------------------------------------------------------------------


@pytest.fixture(scope="module")
def detect_server(detector):
    httpx = pytest.importorskip("httpx")
    import socket
    import threading
    import time

    import uvicorn

    from nxport.serving import Settings, create_app, load_models

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(models=(str(detector["onnx"]),), threads=1)
    server = uvicorn.Server(uvicorn.Config(create_app(load_models(settings.models, settings), settings),
                                           host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=url, timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def b64(rgb) -> str:
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_detect_endpoint_rescales_boxes_to_the_sent_image(detect_server, sessions, photos):
    info = detect_server.get("/info").json()["models"][0]
    assert info["task"] == "detection" and info["labels_count"] == 18
    response = detect_server.post("/detect", json={"inputs": [b64(photos["astronaut"]), b64(photos["grace_hopper"])],
                                                   "threshold": 0.05})
    assert response.status_code == 200, response.text
    astronaut, hopper = response.json()
    face = max((d for d in astronaut if d["label"] == "FACE_FEMALE"), key=lambda d: d["score"])
    assert face["class_id"] == FACE_FEMALE and face["score"] > 0.7
    assert box_iou(np.array([face["box"]]), np.array([[170, 80, 280, 190]]))[0, 0] > 0.6  # 512x512 photo pixels
    height, width = photos["grace_hopper"].shape[:2]
    rows = sessions["artifact"].run(None, feeds(photos["grace_hopper"], 0.05))[0]
    assert len(hopper) == len(rows) > 0 and width != height
    expected = rows[:, :4] * np.array([width / 320, height / 320] * 2)
    assert np.allclose([d["box"] for d in hopper], expected, atol=0.01)
    assert [d["score"] for d in hopper] == pytest.approx(rows[:, 4].tolist(), abs=1e-6)


@pytest.mark.parametrize("body,status,error_type,words", [
    ({"inputs": ["not base64!"]}, 400, "Decode", "base64"),
    ({"inputs": []}, 400, None, "empty"),
    ({"inputs": ["aGVsbG8="], "threshold": 1.5}, 422, "Validation", "threshold"),
    ({"inputs": ["aGVsbG8="], "model": "nope"}, 422, None, "nope"),
])
def test_detect_endpoint_typed_errors(detect_server, body, status, error_type, words):
    response = detect_server.post("/detect", json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert words in payload["error"] and (error_type is None or payload["error_type"] == error_type)


def test_classify_on_a_detector_points_to_detect(detect_server, photos):
    response = detect_server.post("/classify", json={"inputs": [b64(photos["coffee"])], "model": NAME})
    assert response.status_code == 422 and "/detect" in response.json()["error"]


def tutorial_tail(threshold: float):
    """The official Nx tutorial's YOLOv8 tail (nxai-model-to-onnx), rebuilt: NMS over all C score rows
    [1, C, N], each kept (class, anchor) reported with the anchor's max score and argmax class."""
    from onnx import TensorProto, helper, numpy_helper

    consts = {"c20": np.array([20]), "iou": np.array([0.35], np.float32), "thr": np.array([threshold], np.float32),
              "offset": np.array([2048, 2048, 0, 0], np.float32), "two": np.array(2), "s0": np.array([0]),
              "s4": np.array([4]), "s22": np.array([22]), "ax2": np.array([2])}
    nodes = [helper.make_node("Transpose", ["raw"], ["t"], perm=[0, 2, 1]),  # [1, N, 22]
             helper.make_node("Slice", ["t", "s0", "s4", "ax2"], ["boxes"]),
             helper.make_node("Slice", ["t", "s4", "s22", "ax2"], ["scores"]),  # [1, N, C]
             helper.make_node("Transpose", ["scores"], ["all_scores"], perm=[0, 2, 1]),  # [1, C, N]
             helper.make_node("ArgMax", ["scores"], ["cls"], axis=2, keepdims=1),
             helper.make_node("Cast", ["cls"], ["clsf"], to=1),
             helper.make_node("Mul", ["clsf", "offset"], ["shift"]),
             helper.make_node("Add", ["boxes", "shift"], ["shifted"]),
             helper.make_node("NonMaxSuppression", ["shifted", "all_scores", "c20", "iou", "thr"], ["sel"],
                              center_point_box=1),
             helper.make_node("Gather", ["sel", "two"], ["anchor"], axis=1)]
    raw = helper.make_tensor_value_info("raw", TensorProto.FLOAT, [1, 22, 2100])
    graph = helper.make_graph(nodes, "tutorial", [raw],
                              [helper.make_tensor_value_info("anchor", TensorProto.INT64, ["m"])],
                              [numpy_helper.from_array(v, k) for k, v in consts.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def test_the_tutorial_tail_duplicates_anchors_at_low_thresholds_ours_does_not(detector, sessions, photos):
    """DETECTION.md's known bug, reproduced on the real model: one anchor emitted once per passing class."""
    network = cpu_session(detector["network"], threads=1)
    tutorial = cpu_session(tutorial_tail(0.02).SerializeToString(), threads=1)
    duplicated = 0
    for photo in ("astronaut", "grace_hopper", "coffee", "chelsea"):
        f = feeds(photos[photo], 0.02)
        anchors = tutorial.run(None, {"raw": network.run(None, {"image-": f["image-"]})[0]})[0]
        duplicated += len(anchors) - len(set(anchors.tolist()))
        ours, reference = rows_and_reference(sessions, photos[photo], 0.02)
        assert len(np.unique(ours[:, :4], axis=0)) == len(ours) and match_rows(ours, reference).ok()
    assert duplicated > 0


def test_calibrate_detector_quantizes_the_network_and_keeps_the_tail_float(detector, tmp_path, photos, capsys):
    import onnx
    from PIL import Image

    from nxport import conventions
    from nxport.cli import main

    for folder, names in (("calib", ("chelsea", "astronaut", "rocket")), ("eval", ("grace_hopper", "coffee"))):
        (tmp_path / folder).mkdir()
        for name in names:
            Image.fromarray(photos[name]).save(tmp_path / folder / f"{name}.png")
    assert main(["calibrate", str(detector["onnx"]), "--images", str(tmp_path / "calib"), "--eval-images",
                 str(tmp_path / "eval"), "--output-dir", str(tmp_path / "out")]) == 0
    assert "recall" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / f"{NAME}.int8.report.json").read_text())
    at_default = next(e for e in report["fp32_vs_int8"] if e["threshold"] == 0.25)
    assert at_default["fp32_boxes"] >= 1 and at_default["recall"] >= 0.5 and at_default["mean_iou"] >= 0.8
    model = onnx.load(str(tmp_path / "out" / f"{NAME}.int8.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 50 and "NonMaxSuppression" in ops
    producers = {o: n for n in model.graph.node for o in n.output}
    nms = next(n for n in model.graph.node if n.op_type == "NonMaxSuppression")
    assert all(producers[i].op_type != "DequantizeLinear" for i in nms.input if i in producers)
    check = conventions.check(tmp_path / "out" / f"{NAME}.int8.onnx", reference=True)
    assert check.conformant and check.runtime["reference"]["ok"], check.format_text()
    assert main(["calibrate", str(detector["onnx"]), "--images", str(tmp_path / "calib"), "--output-dir",
                 str(tmp_path / "out2"), "--recipe", "naive"]) == 2
    # Classifier-recipe options are refused, not silently ignored.
    assert main(["calibrate", str(detector["onnx"]), "--images", str(tmp_path / "calib"), "--output-dir",
                 str(tmp_path / "out2"), "--weight-rounding", "nearest"]) == 2
