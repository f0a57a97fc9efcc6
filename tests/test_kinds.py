"""The kinds registry is the one list of output kinds: every stage derives its own from it, and the
names Nx reads appear as literals only in the kind modules."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from nxport.conventions import list_rules, spec
from nxport.conventions.kinds import TEXT_INPUT, all_kinds, get_kind, kind_of, optional_input, optional_input_names

REPO = Path(__file__).resolve().parents[1]
CODE = ("core", "conventions", "exporters", "calibration", "serving", "nxport", "benchmarks")


def test_every_kind_is_judged_by_a_rule_the_spec_defines():
    for kind in all_kinds():
        assert spec.rule_spec(kind.rule_id)
        names = {r.name for r in list_rules(kind.rule_id)}
        assert f"{kind.name}_output" in names, (kind.name, names)
        assert list_rules(f"{kind.name}_output")[0].doc == kind.declaration_doc


def test_stages_derive_their_kind_lists_from_the_registry():
    from nxport.calibration.artifact import CALIBRATABLE_KINDS
    from nxport.conventions.checking.runtime import RUNTIME_RULES
    from nxport.conventions.contract import OutputKind
    from nxport.serving.models import SERVED_KINDS

    names = {k.name for k in all_kinds()}
    assert {k.value for k in OutputKind} == names | {"unknown"}
    assert set(RUNTIME_RULES) == {"A3"} | {k.rule_id for k in all_kinds()}
    # One engine for every kind with an INT8 metric, detectors included (a cut point, not a second pipeline).
    assert {k.value for k in CALIBRATABLE_KINDS} == {k.name for k in all_kinds() if k.int8_metric} == {"scores", "embedding", "bboxes"}
    assert {k.value for k in SERVED_KINDS} == {k.name for k in all_kinds() if k.route}
    assert get_kind("alarm").rides_on == "scores" and get_kind("alarm").route is None
    assert kind_of("logits") is None
    with pytest.raises(KeyError, match="registered: scores, bboxes, alarm, embedding"):
        get_kind("masks")


def test_default_feeds_match_the_declarations_rule_b9_asks_for():
    assert optional_input_names() == ("nms_sensitivity-", "mask-")
    threshold = optional_input("nms_sensitivity-").default_feed((1,), np.float32)
    assert threshold.dtype == np.float32 and threshold.tolist() == [0.5]
    mask = optional_input("mask-").default_feed((4, 6), np.bool_)
    assert mask.shape == (4, 6) and mask.all()
    from nxport.conventions.kinds import input_kind

    tokens = input_kind(TEXT_INPUT).default_feed((1, 10), np.int64)
    assert tokens.shape == (1, 10) and tokens[0, 0] == 49406 and tokens[0, -1] == 0


def test_format_names_round_trip_through_the_parser_with_their_labels():
    from nxport.conventions.kinds import alarm, bboxes, scores
    from nxport.conventions.names import parse_output_name

    labels = ["cat", "dog house"]
    for module in (scores, bboxes, alarm):
        parsed = parse_output_name(module.format_name(labels))
        kind = kind_of(parsed.kind)
        assert [name for _, name in kind.class_pairs(parsed)] == labels and not parsed.problems


def _string_literals(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node


def test_nx_names_are_spelled_only_in_the_kind_modules():
    """`<kind>-...` and the optional input names, as code (not prose), live in conventions/kinds/ only."""
    prefixes = tuple([k.prefix for k in all_kinds()] + [TEXT_INPUT, *optional_input_names()])
    found = []
    for package in CODE:
        for path in sorted((REPO / package).rglob("*.py")):
            where = path.relative_to(REPO).as_posix()
            if where.startswith("conventions/kinds/"):
                continue
            for node in _string_literals(path):
                hit = next((p for p in prefixes if node.value.startswith(p)), None)
                if hit:
                    found.append(f"{where}:{node.lineno}: {node.value[:50]!r}")
    assert not found, "\n".join(found)
