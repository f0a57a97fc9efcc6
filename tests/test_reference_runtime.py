"""Our artifacts in onnxruntime 1.17, the runtime the Nx documentation names (environment from ./setup.sh)."""

from __future__ import annotations

import onnx
import pytest

from nxport import conventions
from nxport.conventions._reference.runtime import reference_python


@pytest.fixture(scope="module", autouse=True)
def reference_env():
    assert reference_python() is not None, "run ./setup.sh: it creates .venv-nx-reference (onnxruntime 1.17.3)"


def _reference(report) -> dict:
    info = report.runtime["reference"]
    assert info["onnxruntime"] == "1.17.3"
    return info


@pytest.mark.parametrize("fixture", ["lite0_artifact", "lite0_embedding_artifact"])
def test_fp32_artifacts_run_identically_in_the_reference_runtime(fixture, request):
    report = conventions.check(request.getfixturevalue(fixture), reference=True)
    assert report.conformant, report.format_text()
    info = _reference(report)
    assert info["ok"] is True and info["max_abs_diff_vs_current"] <= 1e-4


def test_int8_artifact_runs_in_the_reference_runtime(int8_artifact):
    """The default recipe's INT8 (GPTQ-rounded uint8-zp128 weights, bias correction) runs in 1.17."""
    report = conventions.check(int8_artifact, reference=True)
    assert report.conformant, report.format_text()
    assert _reference(report)["ok"] is True


def test_clip_text_tower_runs_in_the_reference_runtime(tmp_path, tiny_clip_config):
    from nxport.exporters.clip import ClipConfig, export_clip

    result = export_clip(ClipConfig(model="t", source="hf", random_init=True, hf_config=tiny_clip_config, output_dir=tmp_path))
    report = conventions.check(result.paths["txt"], reference=True)
    assert report.profile == "text" and report.conformant, report.format_text()
    assert _reference(report)["max_abs_diff_vs_current"] <= 1e-4


def test_ir_10_is_refused_by_the_reference_runtime(lite0_artifact, tmp_path):
    """What rule A2 predicts, observed: the model the current onnxruntime accepts, 1.17 rejects."""
    model = onnx.load(str(lite0_artifact))
    model.ir_version = 10
    path = tmp_path / "ir10.onnx"
    onnx.save(model, str(path))
    report = conventions.check(path, reference=True)
    rules = {(f.rule_id, f.level.value) for f in report.findings}
    assert ("A2", "MUST") in rules
    reference = [f for f in report.findings if f.rule_id == "A3" and "1.17" in f.message]
    assert reference and reference[0].level.value == "MUST"
    assert _reference(report)["ok"] is False


def test_missing_reference_environment_is_said_not_hidden(lite0_artifact, monkeypatch, tmp_path):
    monkeypatch.setenv("NXPORT_REFERENCE_PYTHON", str(tmp_path / "no-python"))
    report = conventions.check(lite0_artifact, reference=True)
    info = [f for f in report.findings if f.rule_id == "A3" and f.level.value == "INFO"]
    assert info and "setup.sh" in info[0].fix and report.conformant
