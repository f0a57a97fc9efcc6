"""The Qualcomm HTP oracle: onnxruntime-qnn 2.7.0 (HTP backend emulated) compiles real graphs in its side
environment (.venv-npu-qnn, ./setup.sh) and its verdict stands next to the predicted one.

Skips only when the environment is absent and NXPORT_REQUIRE_ORACLES does not name qnn (.ci/run sets it).
"""

from __future__ import annotations

import json
import os
import time

import onnx
import pytest
from onnx import TensorProto, helper

from nxport.conventions import cli
from nxport.conventions._sandbox import Limits
from nxport.conventions.checking.findings import Level
from nxport.conventions.targets._oracles import ORACLES, run_oracle

CONFIRMED = "qnn: confirmed by onnxruntime-qnn 2.7.0 (QNN HTP, emulated)"
COMPILE_BUDGET_S = 10  # measured ~1 s per lite0 compile (session start-up included); the emulated run is not done


@pytest.fixture(scope="module")
def qnn_env():
    if ORACLES["qnn"].python() is None:
        if "qnn" in os.environ.get("NXPORT_REQUIRE_ORACLES", "").split(","):
            pytest.fail("NXPORT_REQUIRE_ORACLES=qnn but .venv-npu-qnn is missing although ./setup.sh ran")
        pytest.skip("no onnxruntime-qnn environment (.venv-npu-qnn): run ./setup.sh to create it")
    return ORACLES["qnn"].python()


@pytest.fixture(scope="module")
def det_graph(tmp_path_factory):
    """A tiny valid graph: Relu (HTP has it) then Det (the QNN EP has no builder for it)."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu0"), helper.make_node("Det", ["r"], ["y"], name="det_node")]
    graph = helper.make_graph(nodes, "det", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path_factory.mktemp("oracle") / "det.onnx"
    onnx.save(model, path)
    return path


def _check(capsys, *argv) -> tuple[int, str]:
    # One file's --timeout counts from the process start: here that is pytest's, minutes ago
    code = cli.main([str(a) for a in argv] + ["--timeout", "3600"])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_fp32_lite0_compiles_whole_on_the_emulated_htp(qnn_env, lite0_artifact, capsys):
    started = time.monotonic()
    code, out = _check(capsys, lite0_artifact, "--target", "qnn", "--oracle")
    assert time.monotonic() - started < COMPILE_BUDGET_S
    assert code == 0, out
    assert "predicted from targets/qnn.json" in out
    assert f"{CONFIRMED}: compiles whole" in out
    verdict = run_oracle(lite0_artifact, "qnn")
    assert verdict.ran and verdict.compiles and not verdict.rejected and 0 < verdict.compile_s < COMPILE_BUDGET_S
    assert [f.level for f in verdict.findings] == [Level.INFO] and verdict.findings[0].rule_id == "T-qnn-oracle"


def test_int8_lite0_float_output_gemm_is_a_real_refusal(qnn_env, int8_artifact, capsys):
    """nxport's QDQ lite0 ends in a Gemm with DequantizeLinear inputs but a float output: the HTP refuses it."""
    verdict = run_oracle(int8_artifact, "qnn")
    assert verdict.ran and not verdict.compiles
    assert [(r.node, r.op) for r in verdict.rejected] == [("/backbone/classifier/Gemm", "Gemm")]
    assert "Unsupported input/output datatypes" in verdict.rejected[0].reason  # the backend's own words
    assert [f.level for f in verdict.findings] == [Level.MUST]
    code = cli.main([str(int8_artifact), "--target", "qnn", "--oracle", "--json", "--timeout", "3600"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["exit_code"] == 1  # the real refusal decides, whatever the prediction says
    oracle = report["targets"][0]["oracle"]
    assert oracle["rejected"][0]["node"] == "/backbone/classifier/Gemm" and oracle["compiles"] is False
    assert oracle["line"].startswith(f"{CONFIRMED}: refuses 1 node")


def test_an_op_the_htp_lacks_is_named(qnn_env, det_graph, capsys):
    code, out = _check(capsys, det_graph, "--target", "qnn", "--oracle")
    assert code == 1, out
    assert f"{CONFIRMED}: refuses 1 node" in out
    assert "det_node (Det): Operators of type `Det` are not supported by QNN EP" in out
    assert "  fix: change the nodes the toolchain refuses" in out and "next: apply the MUST fixes for qnn" in out


def test_a_hang_is_a_verdict_not_a_traceback(qnn_env, det_graph):
    verdict = run_oracle(det_graph, "qnn", Limits(timeout_s=0.05))  # spent before the compiler answers
    assert verdict.ran and not verdict.compiles
    assert "did not finish within the time limit" in verdict.error
    assert verdict.findings[0].level is Level.MUST and verdict.findings[0].rule_id == "T-qnn-oracle"


def test_a_missing_environment_is_an_info_line_never_a_pass(det_graph, monkeypatch, capsys):
    monkeypatch.setenv("NXPORT_QNN_PYTHON", str(det_graph.with_name("no-such-python")))
    code, out = _check(capsys, det_graph, "--target", "qnn", "--oracle")
    assert "[INFO] T-qnn-oracle no onnxruntime-qnn 2.7.0 environment (.venv-npu-qnn/)" in out
    assert "run ./setup.sh (creates .venv-npu-qnn/)" in out and "confirmed" not in out
    assert code == 0  # the prediction (Det on the host CPU, a SHOULD) decides when no compiler answered


def test_targets_without_an_oracle_stay_predicted_and_oracle_needs_a_target(det_graph, capsys):
    code, out = _check(capsys, det_graph, "--target", "rknn", "--oracle")
    assert "[INFO] T-rknn-oracle no oracle for rknn" in out and "its verdict stays predicted" in out
    assert "predicted from targets/rknn.json" in out
    code, out = _check(capsys, det_graph, "--oracle")
    assert code == 2 and "--oracle asks a target's real toolchain, but no --target was given" in out
    other = det_graph.with_name("det_copy.onnx")
    other.write_bytes(det_graph.read_bytes())
    code, out = _check(capsys, det_graph, other, "--target", "qnn", "--oracle")  # one compile per file, for now
    assert code == 2 and "--oracle checks one .onnx file at a time" in out and "got 2 file(s)" in out
