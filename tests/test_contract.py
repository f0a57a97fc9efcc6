"""One contract, one decision: the checker, `calibrate` and the server's loader accept or refuse the
same edge-case artifacts, and a refusal names the same rule id everywhere (conventions/contract.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nxport import conventions
from nxport.calibration.api import calibrate
from nxport.calibration.recipes import DEFAULT, WeightRounding
from nxport.conventions.contract import OutputKind, Profile, read_contract
from nxport.core.errors import NxportError
from nxport.serving.models import load_model
from nxport.serving.settings import Settings

CLASSES = 8
NORM = json.dumps({"means": [123.675, 116.28, 103.53], "vars": [58.395, 57.12, 57.375]})
SCORES = "scores-" + ";".join(f"{i}:class {i}" for i in range(CLASSES))


def _weights(seed: int = 0) -> list[onnx.TensorProto]:
    rng = np.random.default_rng(seed)
    return [numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "conv_w"),
            numpy_helper.from_array(rng.normal(0, 0.3, (CLASSES, 4)).astype(np.float32), "fc_w"),
            numpy_helper.from_array(np.zeros(CLASSES, np.float32), "fc_b")]


def classifier(*, input_name="image-", shape=(1, 3, 32, 32), nhwc=False, doc=NORM, output=SCORES,
               extra_input=False) -> onnx.ModelProto:
    """A tiny real-valued conv classifier: Conv -> Relu -> GAP -> Gemm -> Softmax."""
    nodes, first = [], input_name
    if nhwc:
        nodes.append(helper.make_node("Transpose", [input_name], ["nchw"], perm=[0, 3, 1, 2]))
        first = "nchw"
    nodes += [helper.make_node("Conv", [first, "conv_w"], ["c"], pads=[1, 1, 1, 1]),
              helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["g"]),
              helper.make_node("Flatten", ["g"], ["f"]), helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["l"], transB=1)]
    if output.startswith("scores"):
        nodes.append(helper.make_node("Softmax", ["l"], [output], axis=1))
        out_dim = CLASSES
    else:  # an embedding head: the logits as a vector
        nodes.append(helper.make_node("Identity", ["l"], [output]))
        out_dim = CLASSES
    inputs = [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(shape))]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("second-", TensorProto.FLOAT, list(shape)))
    graph = helper.make_graph(nodes, "edge", inputs, [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, out_dim])],
                              initializer=_weights(), doc_string=doc)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def text_tower() -> onnx.ModelProto:
    table = numpy_helper.from_array(np.random.default_rng(1).normal(size=(49408, 4)).astype(np.float32), "table")
    out = "embedding-dim:4;norm:none;pool:eot"
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "tokens-"], ["e"]), helper.make_node("ReduceMean", ["e"], [out], axes=[1], keepdims=0)],
        "text", [helper.make_tensor_value_info("tokens-", TensorProto.INT64, [1, 8])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, 4])], initializer=[table])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def qdq_classifier() -> onnx.ModelProto:
    model = classifier()
    scale = numpy_helper.from_array(np.array(0.05, np.float32), "s")
    zero = numpy_helper.from_array(np.array(0, np.int8), "z")
    model.graph.initializer.extend([scale, zero])
    quant = [helper.make_node("QuantizeLinear", ["image-", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"])]
    model.graph.node[0].input[0] = "dq"
    for node in reversed(quant):
        model.graph.node.insert(0, node)
    return model


# name -> (model factory, checker/server decision: None = accepted or the refusing rule id,
#          calibrate's decision when it differs because of what calibration does, not the contract)
CASES = {
    "baseline": (classifier, None, None),
    "renamed input (B2 is a SHOULD)": (lambda: classifier(input_name="input"), None, None),
    "NHWC input": (lambda: classifier(shape=(1, 32, 32, 3), nhwc=True), None, None),
    "symbolic batch": (lambda: classifier(shape=("batch", 3, 32, 32)), "B4", "B4"),
    "two candidate image inputs": (lambda: classifier(extra_input=True), "B1", "B1"),
    "no doc_string": (lambda: classifier(doc=""), "C2", "C2"),
    "vars of zero": (lambda: classifier(doc=json.dumps({"means": [0, 0, 0], "vars": [0, 1, 1]})), "C3", "C3"),
    "embedding without norm key": (lambda: classifier(output="embedding-dim:8;pool:gem"), "D5", "D5"),
    "QDQ (already INT8)": (qdq_classifier, None, "F3"),
    "CLIP text tower": (text_tower, None, "B1"),
}


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    import skimage.data as data
    from PIL import Image

    folder = tmp_path_factory.mktemp("contract_photos")
    for name in ("astronaut", "rocket", "coffee"):
        Image.fromarray(getattr(data, name)()).save(folder / f"{name}.jpg")
    return folder


def _checker(path: Path) -> str | None:
    report = conventions.check(path, runtime=True)
    return None if report.conformant else report.must_findings[0].rule_id


def _decision(call) -> str | Exception | None:
    try:
        call()
    except NxportError as exc:
        return exc
    return None


def _assert_decision(consumer: str, got, expected_rule: str | None) -> None:
    if expected_rule is None:
        assert got is None, f"{consumer} refused: {got}"
    else:
        assert isinstance(got, NxportError), f"{consumer} accepted; expected a refusal citing {expected_rule}"
        assert expected_rule in str(got), f"{consumer} refused without citing {expected_rule}: {got}"


@pytest.mark.parametrize("case", list(CASES))
def test_checker_calibrate_and_server_decide_alike(case, tmp_path, photo_dir):
    factory, expected, expected_calibrate = CASES[case]
    path = tmp_path / "edge.onnx"
    onnx.save(factory(), str(path))
    assert _checker(path) == expected
    _assert_decision("the server", _decision(lambda: load_model(path, Settings(threads=1))), expected)
    _assert_decision("calibrate", _decision(lambda: calibrate(
        path, photo_dir, output_dir=tmp_path / "int8", recipe=DEFAULT, compare_naive=False, progress=False)),
        expected_calibrate)


def test_real_lite0_with_a_renamed_input_is_accepted_everywhere(lite0_artifact, tmp_path, photo_dir):
    model = onnx.load(str(lite0_artifact))
    model.graph.input[0].name = "input"
    for node in model.graph.node:
        node.input[:] = ["input" if name == "image-" else name for name in node.input]
    path = tmp_path / "lite0_renamed.onnx"
    onnx.save(model, str(path))
    assert _checker(path) is None
    served = load_model(path, Settings(threads=1))
    assert served.spec.input_name == "input" and len(served.spec.labels) == 1000
    # The decision is the point here, not the recipe: nearest rounding, no fits (quicker).
    quick = replace(DEFAULT, weight_rounding=WeightRounding.NEAREST, bias_correction=False)
    result = calibrate(path, photo_dir, output_dir=tmp_path / "int8", recipe=quick, compare_naive=False,
                       progress=False)
    int8 = onnx.load(str(result.onnx_path))
    assert [i.name for i in int8.graph.input] == ["input"]


def test_contract_reads_each_declaration_once(lite0_artifact):
    contract = read_contract(lite0_artifact)
    assert contract.profile is Profile.IMAGE and contract.kind is OutputKind.SCORES
    assert contract.input.name == "image-" and contract.input_shape == (1, 3, 224, 224)
    assert (contract.layout.channels, contract.layout.height, contract.layout.width) == (3, 224, 224)
    assert contract.normalization.means == (127.5, 127.5, 127.5)
    assert len(contract.labels) == 1000 and contract.labels[285] == "Egyptian cat"
    assert contract.int8 is None and contract.opset == 17 and contract.ir_version <= 9
    assert contract.provenance["task"] == "classification" and not contract.violations
