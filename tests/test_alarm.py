"""The `alarm-` kind (rule D4) end to end on real EfficientNet-Lite0 weights and real photos: the export
flag, the checker on real photos (and on hand-broken alarms), and /classify over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nxport import conventions
from nxport.conventions.kinds.alarm import add_alarm_head, alarm_parity, expected_flags
from nxport.conventions.names import parse_output_name
from nxport.conventions.normalization import parse_doc_string
from nxport.conventions.nx_input import InputLayout, nx_preprocess

REPO = Path(__file__).resolve().parents[1]
THRESHOLD = 0.3


def _outputs_by_kind(model: onnx.ModelProto) -> dict[str, str]:
    return {parse_output_name(o.name).kind: o.name for o in model.graph.output}


def _nx_run(path: Path, rgb) -> dict[str, np.ndarray]:
    """The artifact on one photo, fed exactly as Nx feeds it."""
    from nxport.core.sessions import cpu_session

    model = onnx.load(str(path))
    image = model.graph.input[0]
    shape = [d.dim_value for d in image.type.tensor_type.shape.dim]
    feed = nx_preprocess(rgb, InputLayout.from_shape(shape), parse_doc_string(model.graph.doc_string))
    session = cpu_session(str(path))
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {image.name: feed})))


@pytest.fixture(scope="session")
def lite0_alarm_artifact(lite0_artifact, tmp_path_factory) -> Path:
    """The shared lite0 artifact with the alarm head added by the same function the exporter calls."""
    model = add_alarm_head(onnx.load(str(lite0_artifact)), THRESHOLD)
    path = tmp_path_factory.mktemp("alarm") / "lite0_alarm.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def lite0_alarm_export(tmp_path_factory) -> Path:
    """A real CLI export: the lite0 example (`nxport export classification`) with --alarm."""
    out = tmp_path_factory.mktemp("alarm_export")
    proc = subprocess.run([sys.executable, str(REPO / "examples/efficientnet_lite0/export_to_onnx.py"),
                           "--output-dir", str(out), "--alarm", str(THRESHOLD)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "CONFORMANT" in proc.stdout, proc.stdout + proc.stderr
    return out / "efficientnet_lite0.onnx"


def test_cli_export_adds_the_alarm_output_with_exact_parity(lite0_alarm_export, lite0_alarm_artifact):
    model = onnx.load(str(lite0_alarm_export))
    outputs = _outputs_by_kind(model)
    assert set(outputs) == {"scores", "alarm"}
    assert outputs["alarm"].split("-", 1)[1] == outputs["scores"].split("-", 1)[1]  # same ids and labels
    alarm = next(o for o in model.graph.output if o.name == outputs["alarm"])
    assert alarm.type.tensor_type.elem_type == TensorProto.FLOAT
    assert [d.dim_value for d in alarm.type.tensor_type.shape.dim] == [1, 1000]
    report = json.loads(lite0_alarm_export.with_suffix(".report.json").read_text())
    record = report["provenance"]["alarm"]
    assert record["threshold"] == THRESHOLD and record["output"] == outputs["alarm"]
    parity = record["parity"]
    assert parity["images"] == 6 and parity["onnx_consistent"] is True
    assert parity["flags_compared"] + parity["ties"] == 6 * 1000 and parity["raised"] >= 1
    # The export's graph is the shared artifact's graph plus the very head the fixture adds.
    assert model.graph.SerializeToString() == onnx.load(str(lite0_alarm_artifact)).graph.SerializeToString()


def test_alarm_flags_are_scores_above_the_threshold_on_real_photos(lite0_alarm_artifact, photos):
    raised_somewhere, quiet_somewhere = False, False
    for name, rgb in photos.items():
        values = _nx_run(lite0_alarm_artifact, rgb)
        scores, flags = (values[n] for n in sorted(values, key=lambda n: not n.startswith("scores-")))
        np.testing.assert_array_equal(flags, expected_flags(scores, THRESHOLD), err_msg=name)
        raised_somewhere |= bool(flags.any())
        quiet_somewhere |= not flags.any()
    assert raised_somewhere and quiet_somewhere  # real photos both raise and stay quiet at 0.3


def test_checker_passes_d4_on_real_photos(lite0_alarm_artifact, photos):
    for name in ("coffee", "chelsea"):
        report = conventions.check(lite0_alarm_artifact, image=photos[name])
        assert report.conformant, [f"{f.rule_id}: {f.message}" for f in report.must_findings]
        assert not [f for f in report.findings if f.rule_id == "D4"]
        stats = next(v for k, v in report.runtime["outputs"].items() if k.startswith("alarm-"))
        assert stats["shape"] == [1, 1000] and stats["non_finite"] == 0 and 0 <= stats["min"] <= stats["max"] <= 1


def _rewired(path: Path, edit) -> onnx.ModelProto:
    model = onnx.load(str(path))
    edit(model)
    return model


def _halve_flags(model: onnx.ModelProto) -> None:
    """alarm = 0.5 * flags: the right shape and dtype, values that are no flags."""
    alarm = _outputs_by_kind(model)["alarm"]
    cast = next(n for n in model.graph.node if alarm in n.output)
    cast.output[0] = "alarm_flags"
    model.graph.initializer.append(numpy_helper.from_array(np.array(0.5, np.float32), "alarm_half"))
    model.graph.node.append(helper.make_node("Mul", ["alarm_flags", "alarm_half"], [alarm]))


def _wrong_dims(model: onnx.ModelProto) -> None:
    """Flags declared and computed as (1000,) instead of (1, 1000)."""
    alarm = _outputs_by_kind(model)["alarm"]
    cast = next(n for n in model.graph.node if alarm in n.output)
    cast.output[0] = "alarm_flags"
    model.graph.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), "alarm_flat"))
    model.graph.node.append(helper.make_node("Reshape", ["alarm_flags", "alarm_flat"], [alarm]))
    output = next(o for o in model.graph.output if o.name == alarm)
    output.CopyFrom(helper.make_tensor_value_info(alarm, TensorProto.FLOAT, [1000]))


def _int64_flags(model: onnx.ModelProto) -> None:
    alarm = _outputs_by_kind(model)["alarm"]
    next(n for n in model.graph.node if alarm in n.output).attribute[0].i = TensorProto.INT64
    output = next(o for o in model.graph.output if o.name == alarm)
    output.type.tensor_type.elem_type = TensorProto.INT64


def _other_labels(model: onnx.ModelProto) -> None:
    """The alarm lists the scores' ids with one label renamed."""
    alarm = _outputs_by_kind(model)["alarm"]
    renamed = alarm.replace("1:goldfish", "1:carp", 1)
    assert renamed != alarm
    next(n for n in model.graph.node if alarm in n.output).output[0] = renamed
    next(o for o in model.graph.output if o.name == alarm).name = renamed


@pytest.mark.parametrize("edit,expected", [
    (_halve_flags, "values other than 0/1 (min 0, max 0.5)"),
    (_wrong_dims, "has shape [1000]; expected static (1, C)"),
    (_int64_flags, "is int64; expected float32"),
    (_other_labels, "they differ from entry 1"),
], ids=["values 0.5", "wrong dims", "int64", "labels differ from scores"])
def test_checker_fails_d4_on_a_broken_alarm(lite0_alarm_artifact, photos, edit, expected):
    report = conventions.check(_rewired(lite0_alarm_artifact, edit), image=photos["coffee"])
    d4 = [f for f in report.must_findings if f.rule_id == "D4"]
    assert not report.conformant and report.exit_code == 1
    assert any(expected in f.message for f in d4), [f.message for f in report.findings]


def test_alarm_parity_judges_every_flag_but_threshold_ties():
    expected = [np.array([[0.3 + 5e-5, 0.6, 0.1]], np.float32)]
    got_scores = [np.array([[0.3 - 5e-5, 0.6, 0.1]], np.float32)]  # within tolerance, across the threshold
    flags = [expected_flags(got_scores[0], 0.3)]
    parity = alarm_parity(expected, got_scores, flags, 0.3, atol=1e-4)
    assert (parity.ties, parity.flags_compared, parity.raised) == (1, 2, 1)
    from nxport.core.errors import ParityError

    with pytest.raises(ParityError, match="photo 0, class 1"):
        alarm_parity(expected, got_scores, [np.array([[0, 0, 0]], np.float32)], 0.3, atol=1e-4)
    with pytest.raises(ParityError, match="photo 0, class 0"):  # a tie still has to match the graph's own scores
        alarm_parity(expected, got_scores, [np.array([[1, 1, 0]], np.float32)], 0.3, atol=1e-4)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan"])
def test_bad_alarm_threshold_is_a_typed_error_before_any_work(tmp_path, value):
    proc = subprocess.run([sys.executable, "-m", "nxport", "export", "classification", "--model", "resnet18",
                           "--random-init", "--alarm", value, "--output-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "ConfigError" in proc.stderr and "[0, 1)" in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_classify_returns_alarms_over_http(lite0_alarm_artifact, photos):
    import httpx
    import uvicorn

    from nxport.serving import Settings, create_app, load_models
    from test_serving import b64, encode, free_port, wait_healthy

    settings = Settings(models=(lite0_alarm_artifact,), threads=1)
    models = load_models(settings.models, settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(models, settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        names = ["coffee", "chelsea", "rocket"]
        response = httpx.post(url + "/classify", json={"inputs": [b64(encode(photos[n], "PNG")) for n in names],
                                                      "top_k": 5}, timeout=60)
        assert response.status_code == 200, response.text
        for name, entries in zip(names, response.json()):
            scores = next(v for k, v in _nx_run(lite0_alarm_artifact, photos[name]).items() if k.startswith("scores-"))
            for entry in entries:
                assert entry["alarm"] is (entry["score"] > THRESHOLD), (name, entry)
                assert entry["alarm"] is bool(scores[0, entry["id"]] > THRESHOLD)
            # Every raised flag reaches the client: at 0.3 at most 3 classes can pass, all within top 5.
            assert sum(e["alarm"] for e in entries) == int((scores > THRESHOLD).sum())
        assert any(e["alarm"] for entries in response.json() for e in entries)
        info = httpx.get(url + "/info", timeout=30).json()
        served = info[0] if isinstance(info, list) else next(iter(info.values()))[0]
        assert served["companions"]["alarm"].startswith("alarm-0:")
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    assert not thread.is_alive()
