"""One finding system: every rule id lives in the spec, every producer declares the ids it emits, and the
two lists agree both ways. Static (the source tree and the spec data), so it runs in about a second."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from nxport.conventions import spec
from nxport.conventions.checking import registry
from nxport.conventions.checking.findings import CheckReport, FailOn, Finding, Level
from nxport.conventions.checking.rulebook import catalog, load_producers, producers_by_spec_id
from nxport.conventions.targets import list_targets

CONVENTIONS = Path(__file__).resolve().parents[1] / "conventions"
FINDING_MAKERS = {"findings.py", "registry.py"}  # the only modules that may call Finding(...)


def test_every_spec_id_has_a_producer_and_every_producer_id_is_in_the_spec():
    rules = spec.load_spec()["rules"]
    produced = producers_by_spec_id()
    background = {rule_id for rule_id, data in rules.items() if data.get("background")}
    assert not set(produced) - set(rules), "producers cite ids the spec lacks"
    assert set(rules) - background == set(produced), f"spec ids without a producer: {set(rules) - background - set(produced)}"
    assert not background & set(produced), "a rule marked background in the spec is produced: drop its background note"
    assert {"D2", "D3", "D4", "D5", "H1", "H2", "H3", "T-<target>-op"} <= set(produced)  # once only inline calls


def _literal_first_args(node: ast.AST, attr: str | None):
    """First string arguments of calls to `finding(...)` (attr None) or `<NAME>.finding(...)` (attr NAME)."""
    for call in ast.walk(node):
        if not isinstance(call, ast.Call) or not call.args or not isinstance(call.args[0], ast.Constant):
            continue
        fn = call.func
        if attr is None and isinstance(fn, ast.Name) and fn.id == "finding":
            yield call.args[0].value, call.lineno
        elif attr is not None and isinstance(fn, ast.Attribute) and fn.attr == "finding" \
                and isinstance(fn.value, ast.Name) and fn.value.id == attr:
            yield call.args[0].value, call.lineno


def _rule_ids_of(fn: ast.FunctionDef) -> set[str]:
    return {d.args[0].value for d in fn.decorator_list
            if isinstance(d, ast.Call) and getattr(d.func, "id", "") == "rule" and d.args}


def test_every_literal_rule_id_is_declared_by_its_producer():
    """A finding id written in the source is one its module declared: @rule("B9") functions emit B9,
    `RUNTIME.finding("D2", ...)` needs D2 in RUNTIME's producer(...) line. Checked here, not at run time."""
    producers = {p.module: p for p in load_producers()}
    wrong, handmade = [], []
    for path in sorted(CONVENTIONS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module = "nxport." + ".".join(path.relative_to(CONVENTIONS.parent).with_suffix("").parts)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and _rule_ids_of(node):
                wrong += [f"{path.name}:{line} {node.name} is @rule{sorted(_rule_ids_of(node))} but emits {rule_id}"
                          for rule_id, line in _literal_first_args(node, None) if rule_id not in _rule_ids_of(node)]
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                    and getattr(node.value.func, "id", "") == "producer":
                name = node.targets[0].id
                declared = producers[module].rule_ids if module in producers else ()
                wrong += [f"{path.name}:{line} {name}.finding({rule_id!r}) but {name} declares {declared}"
                          for rule_id, line in _literal_first_args(tree, name) if rule_id not in declared]
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Finding" and path.name not in FINDING_MAKERS:
                handmade.append(f"{path.relative_to(CONVENTIONS)}:{node.lineno}")
        rules_in_module = {i for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) for i in _rule_ids_of(n)}
        if not rules_in_module:  # outside rule modules a bare finding("X") has no declared producer
            wrong += [f"{path.name}:{line} bare finding({rule_id!r}) outside a @rule module"
                      for rule_id, line in _literal_first_args(tree, None)]
    assert not wrong, "\n".join(wrong)
    assert not handmade, f"Finding(...) built by hand (use registry.finding / a producer): {handmade}"


def test_unknown_ids_fail_when_declared_not_when_run():
    with pytest.raises(ValueError, match="'Z9'.*does not define"):
        registry.rule("Z9")
    with pytest.raises(ValueError, match="'T-<target>-nope'"):
        registry.producer("test producer", ("A3", "T-<target>-nope"), "a typo'd kind")
    assert "test producer" not in {p.name for p in registry.registered_producers()}
    runtime = next(p for p in load_producers() if p.name == "onnxruntime stage")
    with pytest.raises(ValueError, match="does not declare"):
        runtime.finding("B2", "not this stage's rule")
    preflight = next(p for p in load_producers() if p.name == "NPU preflight")
    made = preflight.finding("T-ryzen-ai-op", "Einsum x1", level=Level.SHOULD)
    assert made.level is Level.SHOULD and made.fix == spec.rule_spec("T-<target>-op")["fix"]


def test_spec_resolves_target_ids_to_their_kind_and_profile():
    assert spec.spec_key("T-intel-npu-dynamic") == "T-<target>-dynamic"
    assert spec.rule_spec("T-intel-npu-dynamic")["source"].startswith("conventions/targets/intel-npu.json")
    assert spec.rule_spec("A6")["source"].startswith("sclblonnx")  # a rule's own source beats its family's
    assert "NX_CONVENTIONS.md B" in spec.rule_spec("B2")["source"]
    with pytest.raises(KeyError, match="unknown rule id 'T-rknn-bogus'"):
        spec.rule_spec("T-rknn-bogus")


def test_catalog_lists_every_id_with_level_source_and_producer():
    entries = {e.rule_id: e for e in catalog()}
    kinds = [k for k in spec.rule_ids() if k.startswith("T-")]
    assert len(entries) == len(spec.rule_ids()) - len(kinds) + len(kinds) * len(list_targets())
    # D4 was emitted only by inline calls once: now a static rule and the runtime stage both say so
    assert "onnxruntime stage" in entries["D4"].producers and any(p.startswith("rule ") for p in entries["D4"].producers)
    assert entries["H1"].producers == ("reference runtime", "sandbox limits")
    assert entries["T-hailo8-crop"].producers == ("NPU preflight",) and entries["T-hailo8-crop"].level == "INFO"
    assert all(e.level in ("MUST", "SHOULD", "INFO") and e.title and e.source for e in entries.values())
    assert all(bool(e.producers) != bool(e.background) for e in entries.values())
    assert [e.rule_id for e in catalog("T-*-shape")] == [f"T-{t}-shape" for t in list_targets()]


def test_nxport_rules_command(capsys):
    from nxport.cli import main

    assert main(["rules", "D*"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines() if not line.startswith(" ")] == [f"D{i}" for i in range(6)]
    d2_block = out.split("\nD2 ")[1].split("\nD3 ")[0]
    assert "source: Nx AI Manager docs" in d2_block and "onnxruntime stage" in d2_block.split("producer: ")[1]
    assert out.count("source: ") == 6
    assert main(["rules", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"T-rknn-op", "H3", "B8"} <= {e["rule_id"] for e in listed}
    assert next(e for e in listed if e["rule_id"] == "B8")["background"]
    assert main(["rules", "Z*"]) == 1 and "no rule id matches 'Z*'" in capsys.readouterr().out


def test_one_report_one_exit_rule():
    must = Finding("B3", Level.MUST, "batch 4", "export batch 1")
    should = Finding("B2", Level.SHOULD, "named input", "rename")
    assert CheckReport("a.onnx", findings=[should]).exit_code == 0
    assert CheckReport("a.onnx", findings=[should]).exit_for(FailOn.SHOULD) == 1
    assert CheckReport("a.onnx", findings=[must]).exit_code == 1 and not CheckReport("a.onnx", findings=[must]).conformant
    unreadable = CheckReport("a.onnx", readable=False, findings=[should])
    assert unreadable.exit_for(FailOn.INFO) == 2 and unreadable.status() == "UNREADABLE"
    assert [CheckReport("a", findings=f).status(FailOn.SHOULD) for f in ([], [should])] == ["PASS", "FAIL"]
