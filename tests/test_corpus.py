"""The checker on the ONNX project's own backend test models (issue 21): 1,914 real files written by
people who never heard of Nx. ./setup.sh fetches them into .corpus/ (from the onnx 1.22.0 wheel)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nxport import conventions
from nxport.conventions.checking.findings import Level
from nxport.conventions.targets.preflight import Verdict, preflight

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / ".corpus" / "onnx-1.22.0"


@pytest.fixture(scope="module")
def corpus() -> Path:
    if not (CORPUS / "node").is_dir():
        if os.environ.get("NXPORT_REQUIRE_CORPUS"):  # .ci/run: setup.sh fetched it, so missing is a failure
            pytest.fail(f"{CORPUS} is missing although ./setup.sh ran; run ./setup.sh again")
        pytest.skip(f"the ONNX backend test corpus is not in {CORPUS}: run ./setup.sh to fetch it")
    return CORPUS


def node(corpus: Path, name: str) -> str:
    return str(corpus / "node" / name / "model.onnx")


# Each file's own inputs run cleanly in onnxruntime; none can take a camera frame.
UNFEEDABLE = {
    "test_batchnorm_epsilon": ["'x' float[2, 3, 4, 5]", "batch 2", "'var' float[3]"],  # a batch-2 image + 4 vectors
    "test_center_crop_pad_crop": ["'x' float[20, 10, 3]", "'shape' int64[3]", "no single rank-4 image input"],
    "test_attention_4d_attn_mask_bool_4d_expanded": ["'Q' float[2, 3, 4, 8]", "'attn_mask' bool[2, 3, 4, 6]"],
    "test_if_seq": ["'cond' bool[]", "it ran"],  # its output is a sequence, not a tensor
}


@pytest.mark.parametrize("name", sorted(UNFEEDABLE))
def test_runtime_stage_never_blames_a_model_for_its_synthetic_feed(corpus, name):
    report = conventions.check(node(corpus, name))
    runtime_musts = [f for f in report.must_findings if f.rule_id in ("A3", "D2", "D3", "D4", "D5")]
    assert not runtime_musts, report.format_text()
    (fed,) = [f for f in report.findings if f.rule_id == "A3" and "synthetic feed" in f.message]
    assert fed.level is Level.INFO and all(text in fed.message for text in UNFEEDABLE[name]), fed.message
    assert "re-export" not in fed.fix and report.runtime["synthetic_feed"]
    assert "outputs" not in report.runtime.get("reference", {})


# Representative files for each contradiction the issue found in one report (151 + 15 + 1,265 files before).
NO_IMAGE_INPUT = ["test_ai_onnx_ml_label_encoder_string_int", "test_bernoulli", "test_bitcast_bool_to_uint8",
                  "test_optional_has_element_optional_input", "test_sequence_map_identity_1_sequence"]  # string, bool, no tensor
CONTROL_FLOW = ["test_if", "test_loop11", "test_scan_sum", "test_scan9_sum"]
BUILD_STOPS_BEFORE_ANY_OP = ["test_acos", "test_castlike_BFLOAT16_to_FLOAT_expanded", "test_dequantizelinear"]


def test_no_image_rule_speaks_of_an_input_b1_says_is_no_image(corpus):
    for name in NO_IMAGE_INPUT:
        report = conventions.check(node(corpus, name), runtime=False)
        rules = {f.rule_id for f in report.findings}
        assert "B1" in rules and not rules & {"B2", "B3", "B5", "B6", "B7"}, report.format_text()


def _targets_named(message: str, phrase: str) -> set[str]:
    match = re.search(rf"{phrase} ([\w\-, ()]+?)(?:;| \(`--target)", message)
    return {t.split(" (")[0].strip() for t in match.group(1).split(", ")} if match else set()


def test_control_flow_note_agrees_with_every_target_verdict(corpus):
    for name in CONTROL_FLOW:
        path = node(corpus, name)
        (f2,) = [f for f in conventions.check(path, runtime=False).findings if f.rule_id == "F2"]
        off, on = _targets_named(f2.message, "off the NPU on"), _targets_named(f2.message, "on the NPU on")
        assert off and on, f2.message
        for verdict in preflight(path, ["all"]):
            if verdict.target in off:
                assert verdict.verdict is not Verdict.RUNS_FULLY, (name, f2.message, verdict.headline())
            if verdict.target in on:
                assert verdict.verdict is not Verdict.UNKNOWN_OPS and not verdict.host_partitions, verdict.headline()


def test_a_build_that_stops_places_no_node_on_the_npu(corpus):
    stopped = 0
    for name in BUILD_STOPS_BEFORE_ANY_OP:
        for verdict in preflight(node(corpus, name), ["all"]):
            if verdict.compiles:
                continue
            stopped += 1
            assert verdict.nodes_on_npu == 0 and verdict.to_dict()["nodes_on_npu"] == 0
            assert f"0/{verdict.nodes} nodes on the NPU" in verdict.headline(), verdict.headline()
    assert stopped >= 3


# Files whose run on the old feed made onnxruntime print coloured `[E:onnxruntime:...]` lines.
ORT_LOGGED = ["test_affine_grid_2d", "test_reshape_zero_dim", "test_attention_4d_attn_mask_bool_4d_expanded"]


def test_cli_output_is_quiet(corpus):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "nxport", "check", *(node(corpus, n) for n in ORT_LOGGED),
                             "--format", "json", "--jobs", "1"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1 and result.stdout.startswith("{"), result.stderr[-2000:]
    assert "[E:onnxruntime" not in result.stderr and "Warning" not in result.stderr, result.stderr[-2000:]
    verbose = subprocess.run([sys.executable, "-m", "nxport.conventions", "-v", node(corpus, "test_reshape_zero_dim")],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert "[E:onnxruntime" in verbose.stderr  # -v opens onnxruntime's log again, for debugging


# --- the intel-npu verdict against OpenVINO's own (issue 23) -----------------------------------
# Recorded by benchmarks/openvino_read_compile.py: OpenVINO 2026.4.1 read_model + compile_model("CPU")
# on every node test (the ONNX front end the Intel NPU compiles from; the NPU compiler is not in the wheel).
OPENVINO = json.loads((REPO / "benchmarks/openvino_oracle/openvino-2026.4.1-node-tests.json").read_text())
# name -> the blocking rule expected, or None: compiles (each agrees with OpenVINO's recorded verdict)
OPENVINO_CASES = {
    "test_castlike_FLOAT16_to_FLOAT": None,  # input `like` is float16[0]: a static zero-size dim, not dynamic
    "test_castlike_FLOAT16_to_FLOAT8E4M3FN": None,  # FLOAT8E4M3FN reads
    "test_castlike_FLOAT_to_INT2": "T-intel-npu-dtype",  # read_model: "Unsupported type"
    "test_cast_FLOAT_to_FLOAT8E4M3FNUZ": "T-intel-npu-dtype",
    "test_lppool_2d_default": None,  # the front-end table says LpPool has no version: stale
    "test_swish": None,  # not in the table at all
    "test_resize_upsample_scales_linear": None,
    "test_resize_tf_crop_and_resize": "T-intel-npu-cond",  # coordinate_transformation_mode
    "test_resize_upsample_scales_linear_half_pixel_symmetric": "T-intel-npu-cond",
    "test_gridsample": None,
    "test_gridsample_volumetric_nearest_align_corners_0": "T-intel-npu-cond",  # 5-D
    "test_nllloss_NCd1": None,
    "test_nllloss_NCd1_ii": "T-intel-npu-cond",  # ignore_index
    "test_dropout_default": None,
    "test_training_dropout": "T-intel-npu-cond",  # a training_mode input
    "test_unsqueeze_axis_0": "T-intel-npu-cond",  # axes a graph input: "Unsqueeze operation with dynamic rank"
    "test_equal": None,
    "test_equal_string": "T-intel-npu-cond",  # compile_model: "unsupported src_prc: string"
    "test_if_seq": "T-intel-npu-cond",  # a sequence op inside the If body
    "test_split_to_sequence_1": "T-intel-npu-op",
}


@pytest.mark.parametrize("name", sorted(OPENVINO_CASES))
def test_intel_npu_verdict_agrees_with_recorded_openvino(corpus, name):
    verdict = preflight(node(corpus, name), "intel-npu")[0]
    rule = OPENVINO_CASES[name]
    assert (name in OPENVINO["compiled"]) is (rule is None)  # the recorded truth this case encodes
    assert verdict.compiles is (rule is None), (verdict.headline(), OPENVINO["refused"].get(name))
    assert verdict.blocking_rules == ([rule] if rule else []), verdict.headline()
    assert verdict.basis.startswith("predicted from targets/intel-npu.json")


def test_intel_npu_disagreements_with_openvino_only_shrink(corpus):
    """The whole corpus: 93 false passes and 146 false refusals before issue 23; at most 14 and 23 now."""
    false_pass, false_refusal, shape_refusals = [], [], []
    for name in OPENVINO["compiled"] + sorted(OPENVINO["refused"]):
        verdict = preflight(node(corpus, name), "intel-npu")[0]
        if verdict.compiles and name in OPENVINO["refused"]:
            false_pass.append(name)
        elif not verdict.compiles and name not in OPENVINO["refused"]:
            false_refusal.append(name)
            shape_refusals += [name] if "T-intel-npu-shape" in verdict.blocking_rules else []
    assert len(false_pass) <= 14 and len(false_refusal) <= 23, (false_pass, false_refusal)
    assert shape_refusals == ["test_identity_opt"]  # an optional-typed input (no tensor shape); no zero-size one
