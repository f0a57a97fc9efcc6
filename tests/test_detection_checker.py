"""The checker's detection profile (B9, D3, E3 at runtime) on tiny detector graphs that break one
promise each; the real YOLOv8n artifact passing it is in test_detection.py."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import numpy_helper, parser

from nxport import conventions

OUTPUT = "bboxes-format:xyxysc;0:person;1:car"
# Rows filtered by a comparison of their score with nms_sensitivity-; mask- is ignored.
DETECTOR = """<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 3, 32, 32] image, float[1] thr, bool[32, 32] mask) => (float[n, 6] out) {
 s = Slice(rows, four, five, one)
 flat = Reshape(s, minus_one)
 keep = COMPARE(flat, thr)
 nz = NonZero(keep)
 idx = Reshape(nz, minus_one)
 out = Gather <axis = 0> (rows, idx) }"""


def detector(compare: str, rows: np.ndarray):
    model = parser.parse_model(DETECTOR.replace("COMPARE", compare))
    constants = {"rows": rows.astype(np.float32), "four": np.array([4]), "five": np.array([5]),
                 "one": np.array([1]), "minus_one": np.array([-1])}
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    model.graph.node[-1].output[0] = OUTPUT
    for value, nx_name in zip(model.graph.input, ("image-", "nms_sensitivity-", "mask-")):
        for node in model.graph.node:
            node.input[:] = [nx_name if name == value.name else name for name in node.input]
        value.name = nx_name
    model.graph.output[0].name = OUTPUT
    model.graph.doc_string = '{"means": [0, 0, 0], "vars": [255, 255, 255]}'
    return model


GOOD_ROWS = np.array([[1, 2, 10, 12, 0.9, 0], [5, 5, 20, 30, 0.3, 1], [0, 0, 4, 4, 0.1, 1]])


def findings(model) -> set[tuple[str, str]]:
    report = conventions.check(model)
    return {(f.rule_id, f.message) for f in report.findings if f.level.value == "MUST"}


def test_threshold_that_adds_rows_and_an_ignored_mask_are_b9():
    found = findings(detector("Less", GOOD_ROWS))
    messages = [m for rule, m in found if rule == "B9"]
    assert any("never add rows" in m for m in messages), found
    assert any("all-false mask-" in m for m in messages), found


def test_bad_rows_and_undeclared_classes_are_d3_and_e3():
    rows = np.array([[10, 2, 1, 12, 0.9, 0], [5, 30, 20, 5, 0.6, 1], [0, 0, 4, 4, 1.5, 7]])
    found = findings(detector("Greater", rows))
    d3 = " ".join(m for rule, m in found if rule == "D3")
    assert "x1 > x2" in d3 and "y1 > y2" in d3 and "score outside [0, 1]" in d3, found
    assert any(rule == "E3" and "[7.0]" in m for rule, m in found), found


@pytest.mark.parametrize("rows", [GOOD_ROWS, np.zeros((0, 6))])
def test_threshold_honouring_rows_pass_everything_but_the_mask(rows):
    found = findings(detector("Greater", rows))
    assert {rule for rule, _ in found} <= {"B9"}, found  # only the ignored mask (when rows exist)
    report = conventions.check(detector("Greater", rows))
    counts = next(iter(report.runtime["detection"].values()))["rows_per_threshold"]
    assert counts["0.05"] == len(rows) and counts["0.9"] == 0
