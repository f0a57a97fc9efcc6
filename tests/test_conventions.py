"""The conformance checker: one good model, a table of broken variants (exact rule id and level),
the onnxruntime stage on a real photo, unreadable files, and the CLI's exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.parser
import pytest
from onnx import helper, numpy_helper
from onnx_graphs import rename_output

from nxport import conventions
from nxport.conventions import Level
from nxport.conventions.checking.rulebook import list_rules
from nxport.conventions.spec import load_spec, rule_spec, sclblonnx_ops
from nxport.core.errors import ConformanceError

REPO = Path(__file__).resolve().parents[1]
IMAGENET_DOC = '{"means":[123.675,116.28,103.53],"vars":[58.395,57.12,57.375]}'
SCORES = "scores-0:cat;1:dog;2:car;3:bus"

GOOD = dict(
    ir=8, opsets='"" : 17', in_type="float", in_shape="1,3,8,8", in_name="image-", extra_inputs="",
    out_type="float", out_shape="1,4", out_name=SCORES, w_shape=(3, 4), doc=IMAGENET_DOC,
    head="out = Softmax(logits)",
)

TEMPLATE = """
<ir_version: {ir}, opset_import: [{opsets}]>
g ({in_type}[{in_shape}] "{in_name}"{extra_inputs}) => ({out_type}[{out_shape}] out) {{
  pooled = GlobalAveragePool("{in_name}")
  flat = Flatten(pooled)
  logits = MatMul(flat, w)
  {head}
}}
"""


def build(**overrides) -> onnx.ModelProto:
    """The good classifier with some fields replaced. The output is named after parsing, because
    the text syntax cannot quote every name the tests need (line breaks)."""
    cfg = {**GOOD, **overrides}
    model = onnx.parser.parse_model(TEMPLATE.format(**cfg))
    weights = (np.arange(np.prod(cfg["w_shape"]), dtype=np.float32).reshape(cfg["w_shape"]) % 5) / 10
    model.graph.initializer.append(numpy_helper.from_array(weights, "w"))
    model.graph.doc_string = cfg["doc"]
    rename_output(model, "out", cfg["out_name"])
    return model


def embedding(name="embedding-dim:4;norm:l2;pool:avg", normalize=True, shape="1,4") -> onnx.ModelProto:
    head = "out = LpNormalization<axis=1, p=2>(logits)" if normalize else "out = Identity(logits)"
    return build(out_name=name, head=head, out_shape=shape)


def text_tower(dtype="int64", name="tokens-", shape="1,7", out="embedding-dim:4;norm:l2;pool:eot", extra=""):
    model = onnx.parser.parse_model(f"""
    <ir_version: 8, opset_import: ["" : 17]>
    t ({dtype}[{shape}] "{name}"{extra}) => (float[1,4] out) {{
      f = Cast<to=1>("{name}")
      e = MatMul(f, w)
      out = LpNormalization<axis=1, p=2>(e)
    }}""")
    model.graph.initializer.append(numpy_helper.from_array(np.linspace(-1, 1, 28, dtype=np.float32).reshape(7, 4), "w"))
    rename_output(model, "out", out)
    return model


def drop_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    del model.graph.initializer[:]
    return model


def duplicate_output(model: onnx.ModelProto) -> onnx.ModelProto:
    model.graph.output.append(model.graph.output[0])
    return model


def empty_initializer(model: onnx.ModelProto) -> onnx.ModelProto:
    """10^12 declared elements, no data: helper.make_tensor refuses it, a hostile file does not."""
    tensor = onnx.TensorProto(name="w", data_type=onnx.TensorProto.FLOAT, dims=[10**6, 10**6])
    model.graph.initializer[0].CopyFrom(tensor)
    return model


def with_model_doc(model: onnx.ModelProto) -> onnx.ModelProto:
    model.doc_string, model.graph.doc_string = model.graph.doc_string, ""
    return model


def with_if_custom_op() -> onnx.ModelProto:
    """A custom-domain op hidden in an If branch: A4 must search subgraphs (and F2 notes the If)."""
    model = build(opsets='"" : 17, "com.microsoft" : 1')
    then_out = helper.make_tensor_value_info("t_out", onnx.TensorProto.FLOAT, [1, 4])
    then_branch = helper.make_graph(
        [helper.make_node("Gelu", ["logits"], ["t_out"], domain="com.microsoft")], "then", [], [then_out])
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["logits"], ["e_out"])], "else", [],
        [helper.make_tensor_value_info("e_out", onnx.TensorProto.FLOAT, [1, 4])])
    head = model.graph.node[-1]
    cond = helper.make_tensor("cond", onnx.TensorProto.BOOL, [], [True])
    model.graph.initializer.append(cond)
    branch = helper.make_node("If", ["cond"], ["branched"], then_branch=then_branch, else_branch=else_branch)
    head.input[0] = "branched"
    model.graph.node.insert(len(model.graph.node) - 1, branch)
    return model


# (case id, model factory, rule id, level, text the message must contain)
STATIC_CASES = [
    ("input_name", lambda: build(in_name="input"), "B2", Level.SHOULD, "'input'"),
    ("dynamic_batch", lambda: build(in_shape="N,3,8,8"), "B4", Level.MUST, "symbolic 'N'"),
    ("batch_2", lambda: build(in_shape="2,3,8,8"), "B3", Level.MUST, "batch dimension 2"),
    ("opset_19", lambda: build(opsets='"" : 19'), "A1", Level.MUST, "opset is 19"),
    ("opset_18", lambda: build(opsets='"" : 18'), "A1", Level.SHOULD, "Nx tests up to 17"),
    ("ir_10", lambda: build(ir=10), "A2", Level.MUST, "ir_version is 10"),
    ("com_microsoft", lambda: build(opsets='"" : 17, "com.microsoft" : 1',
                                    head="g = com.microsoft.Gelu(logits)\n  out = Softmax(g)"),
     "A4", Level.MUST, "'Gelu' of domain 'com.microsoft'"),
    ("onnx_ml", lambda: build(opsets='"" : 17, "ai.onnx.ml" : 3',
                              head='n = ai.onnx.ml.Normalizer<norm="L1">(logits)\n  out = Softmax(n)'),
     "A4", Level.MUST, "'ai.onnx.ml'"),
    ("custom_op_in_subgraph", with_if_custom_op, "A4", Level.MUST, "in graph > If.then_branch"),
    ("control_flow", with_if_custom_op, "F2", Level.INFO, "If"),
    ("op_outside_sclblonnx", lambda: build(head="e = Erf(logits)\n  out = Softmax(e)"), "A6", Level.INFO, "Erf"),
    ("semicolon_in_name", lambda: build(out_name="scores-0:cat;tabby;1:dog;2:car;3:bus"),
     "E2", Level.MUST, "class 0 name 'cat;tabby'"),
    ("line_break_in_name", lambda: build(out_name="scores-0:cat\nx;1:dog;2:car;3:bus"),
     "E2", Level.MUST, "line break"),
    ("colon_in_name", lambda: build(out_name="scores-0:cat:tabby;1:dog;2:car;3:bus"),
     "E2", Level.SHOULD, "contains ':'"),
    ("duplicate_ids", lambda: build(out_name="scores-0:cat;0:dog;2:car;3:bus"), "E3", Level.MUST, "duplicate"),
    ("label_count", lambda: build(out_name="scores-0:cat;1:dog;2:car"), "E3", Level.MUST, "C=4"),
    ("ids_out_of_order", lambda: build(out_name="scores-1:cat;0:dog;2:car;3:bus"), "E3", Level.MUST, "in order"),
    ("non_decimal_id", lambda: build(out_name="scores-a:cat;1:dog;2:car;3:bus"), "E1", Level.MUST, "'a'"),
    ("leading_segment", lambda: build(out_name="scores-cat;1:dog;2:car;3:bus"), "E1", Level.MUST, "'cat'"),
    ("trailing_semicolon", lambda: build(out_name=SCORES + ";"), "D0", Level.MUST, "trailing ';'"),
    ("no_nx_output", lambda: build(out_name="probabilities"), "D1", Level.MUST, "'probabilities'"),
    ("embedding_only", embedding, "D1", Level.INFO, "passes them raw"),
    ("scores_int", lambda: build(out_type="int64", head="s = Softmax(logits)\n  out = Cast<to=7>(s)"),
     "D2", Level.MUST, "int64"),
    ("scores_dynamic", lambda: build(out_shape="N,4"), "D2", Level.MUST, "(1, C)"),
    ("bboxes_no_format", lambda: build(out_name="bboxes-0:cat;1:dog", out_shape="1,4"), "D3", Level.MUST,
     "'format:xyxysc' first"),
    ("alarm_shape", lambda: build(out_name="alarm-0:cat;1:dog;2:car;3:bus", out_shape="N,4"), "D4", Level.MUST,
     "(1, C)"),
    ("embedding_dim", lambda: embedding(name="embedding-dim:8;norm:l2;pool:avg"), "D5", Level.MUST, "dim:8"),
    ("embedding_key", lambda: embedding(name="embedding-dim:4;norm:l2"), "D5", Level.MUST, "missing key 'pool'"),
    ("embedding_norm", lambda: embedding(name="embedding-dim:4;norm:l1;pool:avg"), "D5", Level.MUST, "'l1'"),
    ("nhwc_ambiguous", lambda: build(in_shape="1,2,8,3"), "B6", Level.MUST, "ambiguous"),
    ("nchw_c4", lambda: build(in_shape="1,4,8,8", w_shape=(4, 4)), "B6", Level.MUST, "dim 1 = 4"),
    ("missing_doc", lambda: build(doc=""), "C2", Level.MUST, "empty"),
    ("invalid_json_doc", lambda: build(doc="{means: [1,2,3]"), "C2", Level.MUST, "not JSON"),
    ("doc_on_model", lambda: with_model_doc(build()), "C2", Level.MUST, "graph.doc_string is empty"),
    ("vars_zero", lambda: build(doc='{"means":[123.675,116.28,103.53],"vars":[58.395,0,57.375]}'),
     "C3", Level.MUST, "> 0"),
    ("unit_scale", lambda: build(doc='{"means":[0.485,0.456,0.406],"vars":[0.229,0.224,0.225]}'),
     "C3", Level.MUST, "0..1 scale"),
    ("means_count", lambda: build(doc='{"means":[123.675],"vars":[58.395,57.12,57.375]}'),
     "C3", Level.MUST, "3-channel"),
    ("invalid_graph", lambda: drop_initializers(build()), "A3", Level.MUST, "check_model(full_check=True) fails"),
    # hostile inputs (issue 11): each found on main as CONFORMANT or as a crash
    ("vars_infinity", lambda: build(doc='{"means":[0,0,0],"vars":[1e999,1,1]}'), "C3", Level.MUST, "non-finite"),
    ("means_nan", lambda: build(doc='{"means":[NaN,0,0],"vars":[1,1,1]}'), "C3", Level.MUST, "means nan"),
    ("nul_in_name", lambda: build(out_name="scores-0:c\x00at;1:dog;2:car;3:bus"), "E2", Level.MUST, "U+0000"),
    ("bidi_in_name", lambda: build(out_name="scores-0:cat;1:dog\u202e;2:car;3:bus"), "E2", Level.MUST, "U+202E"),
    ("duplicate_outputs", lambda: duplicate_output(build()), "H5", Level.MUST, "graph output names"),
    ("empty_initializer", lambda: empty_initializer(build()), "H4", Level.MUST, "declares 1,000,000,000,000"),
    ("doc_string_nested", lambda: build(doc="[" * 100_000), "H4", Level.MUST, "100,000 characters"),
    ("uint8_input", lambda: build(in_type="uint8"), "B5", Level.MUST, "uint8"),
    ("two_images", lambda: build(extra_inputs=', float[1,3,8,8] "image2-"'), "B1", Level.MUST, "2 rank-4 inputs"),
    ("rank3_input", lambda: build(in_shape="3,8,8", w_shape=(8, 4)), "B1", Level.MUST, "no rank-4 input"),
    ("unknown_input", lambda: build(extra_inputs=', float[1] "threshold"'), "B9", Level.MUST, "'threshold'"),
    ("nms_wrong_type", lambda: build(extra_inputs=', double[1] "nms_sensitivity-"'), "B9", Level.MUST,
     "float32 [1]"),
    ("mask_wrong_shape", lambda: build(extra_inputs=', bool[4,4] "mask-"'), "B9", Level.MUST, "bool [8, 8]"),
    ("b7_always_noted", build, "B7", Level.INFO, "RGB"),
    ("text_int32", lambda: text_tower(dtype="int32"), "B5", Level.MUST, "int32"),
    ("text_dynamic", lambda: text_tower(shape="1,L"), "B4", Level.MUST, "symbolic 'L'"),
    ("text_wrong_name", lambda: text_tower(name="input_ids"), "B2", Level.SHOULD, "'input_ids'"),
    ("text_two_inputs", lambda: text_tower(extra=', int64[1,7] "mask"'), "B1", Level.MUST, "2 inputs"),
    ("text_no_embedding", lambda: text_tower(out="text_features"), "D5", Level.MUST, "no `embedding-...`"),
]


def rule_hits(report, rule_id: str, level: Level | None = None):
    return [f for f in report.findings if f.rule_id == rule_id and (level is None or f.level is level)]


def describe(report) -> str:
    return report.format_text()


@pytest.mark.parametrize("case,factory,rule_id,level,text", STATIC_CASES, ids=[c[0] for c in STATIC_CASES])
def test_static_corpus(case, factory, rule_id, level, text):
    profile = "text" if case.startswith("text_") else None
    report = conventions.check(factory(), runtime=False, profile=profile)
    hits = rule_hits(report, rule_id, level)
    assert hits, f"expected [{level.value}] {rule_id}:\n{describe(report)}"
    assert any(text in f.message for f in hits), f"no {rule_id} message contains {text!r}:\n{describe(report)}"
    assert all(f.fix for f in report.findings), "every finding carries a fix"
    assert report.exit_code == (1 if report.must_findings else 0)


def test_good_model_is_conformant_after_a_real_run():
    report = conventions.check(build())
    assert report.conformant, describe(report)
    assert report.exit_code == 0 and report.readable and report.profile == "image"
    assert [f.rule_id for f in report.findings] == ["B7"]  # the INFO note on channel order only
    assert report.runtime["input_source"] == "nxport.core.images.chelsea()"
    assert report.runtime["inputs"]["image-"]["shape"] == [1, 3, 8, 8]
    out = report.runtime["outputs"][SCORES]
    assert out["shape"] == [1, 4] and out["sum"] == pytest.approx(1.0, abs=1e-5)
    assert report.spec_version == load_spec()["spec_version"]
    assert {"A1", "A3", "B1", "C2", "D2", "E3"} <= set(report.rules_checked)


def test_opset_18_is_only_a_should():
    report = conventions.check(build(opsets='"" : 18'))
    assert report.conformant, describe(report)
    assert not rule_hits(report, "A1", Level.MUST)


def test_nhwc_input_with_large_h_is_fine():
    report = conventions.check(build(in_shape="1,8,8,3"), runtime=False)
    assert not rule_hits(report, "B6"), describe(report)


def test_nhwc_model_is_fed_nhwc_at_runtime():
    report = conventions.check(build(in_shape="1,8,8,3", w_shape=(8, 4)))
    assert report.runtime["inputs"]["image-"]["shape"] == [1, 8, 8, 3] and report.conformant, describe(report)


def test_runtime_skipped_for_dynamic_input_says_why():
    report = conventions.check(build(in_shape="N,3,8,8"))
    skipped = [f for f in rule_hits(report, "A3", Level.INFO) if "skipped" in f.message]
    assert skipped and "'image-'" in skipped[0].message and "skipped" in report.runtime


def test_optional_inputs_of_the_right_type_are_accepted():
    model = build(extra_inputs=', float[1] "nms_sensitivity-", bool[8,8] "mask-"')
    report = conventions.check(model)
    assert not rule_hits(report, "B9") and not rule_hits(report, "B1"), describe(report)
    assert report.runtime["inputs"]["mask-"] == {"shape": [8, 8], "dtype": "bool"}


def test_doc_on_model_level_fix_says_where_the_json_is():
    report = conventions.check(with_model_doc(build()), runtime=False)
    (c2,) = rule_hits(report, "C2")
    assert "ModelProto.doc_string" in c2.fix


def test_unit_scale_fix_gives_the_255_values():
    report = conventions.check(build(doc='{"means":[0.485,0.456,0.406],"vars":[0.229,0.224,0.225]}'), runtime=False)
    (c3,) = rule_hits(report, "C3")
    assert "123.675" in c3.fix and "58.395" in c3.fix


# --- the onnxruntime stage ------------------------------------------------------------------------


def test_scores_that_do_not_sum_to_one_fail_only_at_runtime():
    model = build(head="c = Clip(logits, lo, hi)\n  out = Mul(c, tenth)")
    for name, value in (("lo", 0.0), ("hi", 1.0), ("tenth", 0.1)):
        model.graph.initializer.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
    assert not rule_hits(conventions.check(model, runtime=False), "D2"), "statically the head looks fine"
    report = conventions.check(model)
    (d2,) = rule_hits(report, "D2", Level.MUST)
    assert "sums to" in d2.message and "Softmax" in d2.fix and "Sigmoid" in d2.fix


def test_logits_outside_0_1_fail_d2():
    model = build(head="out = Mul(logits, hundred)")
    model.graph.initializer.append(numpy_helper.from_array(np.array(-100.0, dtype=np.float32), "hundred"))
    (d2,) = rule_hits(conventions.check(model), "D2", Level.MUST)
    assert "[0, 1]" in d2.message


def test_sigmoid_multilabel_head_passes():
    report = conventions.check(build(head="out = Sigmoid(logits)"))
    assert report.conformant, describe(report)


def test_sigmoid_seen_through_reshape():
    report = conventions.check(build(head="s = Sigmoid(logits)\n  out = Identity(s)"))
    assert report.conformant, describe(report)


def test_normalized_embedding_passes_and_unnormalized_fails():
    good = conventions.check(embedding())
    assert good.conformant, describe(good)
    assert rule_hits(good, "D1", Level.INFO)
    bad = conventions.check(embedding(normalize=False))
    (d5,) = rule_hits(bad, "D5", Level.MUST)
    assert "L2 norm" in d5.message


def test_declared_shape_differs_from_computed_shape():
    model = build()
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 5
    model.graph.output[0].name = model.graph.node[-1].output[0] = "scores-0:a;1:b;2:c;3:d;4:e"
    report = conventions.check(model)
    assert any("onnxruntime returns [1, 4]" in f.message for f in rule_hits(report, "D2", Level.MUST)), describe(report)


def test_model_onnxruntime_cannot_load_fails_a3():
    model = build(opsets='"" : 17, "com.example" : 1', head="f = com.example.Frobnicate(logits)\n  out = Softmax(f)")
    report = conventions.check(model)
    assert rule_hits(report, "A4", Level.MUST)
    assert any("cannot load" in f.message for f in rule_hits(report, "A3", Level.MUST)), describe(report)


def test_nan_outputs_fail_and_the_report_stays_valid_json():
    model = build(head="a = Abs(logits)\n  n = Neg(a)\n  r = Sqrt(n)\n  out = Add(r, a)")
    report = conventions.check(model)
    assert any("NaN/inf" in f.message for f in rule_hits(report, "D2", Level.MUST)), describe(report)
    stats = report.runtime["outputs"][SCORES]
    assert stats["non_finite"] > 0
    json.dumps(report.to_dict(), allow_nan=False)


def test_nondeterministic_model_fails_a3():
    model = build(head="r = RandomUniformLike(logits)\n  n = Add(logits, r)\n  out = Softmax(n)")
    report = conventions.check(model)
    assert any("differs between two identical runs" in f.message for f in rule_hits(report, "A3")), describe(report)


def test_text_tower_profile_is_detected_and_conformant():
    report = conventions.check(text_tower())
    assert report.profile == "text" and report.conformant, describe(report)
    assert report.runtime["inputs"]["tokens-"] == {"shape": [1, 7], "dtype": "int64"}
    assert not {"B6", "C2", "D1"} & set(report.rules_checked)


def test_external_data_is_a_should_and_checked_by_path(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(build(), path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="model.weights", size_threshold=0)
    report = conventions.check(path)
    (a5,) = rule_hits(report, "A5")
    assert a5.level is Level.SHOULD and "model.weights" in a5.message
    assert report.conformant, describe(report)


def test_photo_can_be_a_path_or_an_array(tmp_path, photos):
    from PIL import Image

    path = tmp_path / "coffee.png"
    Image.fromarray(photos["coffee"]).save(path)
    assert conventions.check(build(), image=path).runtime["input_source"] == str(path)
    assert conventions.check(build(), image=photos["astronaut"]).conformant


# --- sources: path, bytes, ModelProto, and everything that is not a model --------------------------


def test_accepts_path_bytes_and_modelproto(tmp_path):
    model = build()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    for source in (model, model.SerializeToString(), path, str(path)):
        assert conventions.check(source, runtime=False).conformant


BAD_FILES = {
    "empty": b"",
    "random_bytes": bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
    "truncated": build().SerializeToString()[:57],
    "text_file": b"this is a README, not a model\n",
    "wrong_protobuf": numpy_helper.from_array(np.ones((2, 2), dtype=np.float32), "t").SerializeToString(),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_are_unreadable_not_exceptions(tmp_path, name):
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(BAD_FILES[name])
    report = conventions.check(path)
    assert not report.readable and report.exit_code == 2 and not report.conformant
    assert rule_hits(report, "A3", Level.MUST)
    assert report.format_text().endswith("NOT CONFORMANT: 1 MUST, 0 SHOULD (unreadable file)")


@pytest.mark.parametrize("kind", ["directory", "missing"])
def test_directory_and_missing_path(tmp_path, kind):
    path = tmp_path if kind == "directory" else tmp_path / "nope.onnx"
    report = conventions.check(path)
    assert not report.readable and report.exit_code == 2
    assert ("directory" if kind == "directory" else "does not exist") in report.findings[0].message


def test_a_crashing_rule_becomes_a_finding(monkeypatch):
    from nxport.conventions.checking import registry

    (target,) = [r for r in list_rules("E3")]

    def boom(ctx):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(registry._RULES, target.name, registry.Rule(target.name, "E3", boom, target.profiles))
    report = conventions.check(build(), runtime=False)
    (e3,) = rule_hits(report, "E3")
    assert "RuntimeError: kaboom" in e3.message and e3.level is Level.MUST


# --- API surface -----------------------------------------------------------------------------------


def test_assert_conformant():
    assert conventions.assert_conformant(build(), runtime=False).conformant
    with pytest.raises(ConformanceError) as info:
        conventions.assert_conformant(build(ir=10, opsets='"" : 19'), runtime=False)
    assert {f.rule_id for f in info.value.findings} == {"A1", "A2"}
    assert all(f.level is Level.MUST for f in info.value.findings)
    assert "A2" in str(info.value) and info.value.exit_code == 1


def test_report_text_and_dict():
    report = conventions.check(build(in_name="input", ir=10), runtime=False)
    lines = report.format_text().splitlines()
    assert any(line.startswith("[MUST] A2 ") and "  fix: " in line for line in lines)
    assert lines[-1] == "NOT CONFORMANT: 1 MUST, 1 SHOULD"
    data = json.loads(json.dumps(report.to_dict()))
    assert data["exit_code"] == 1 and data["counts"]["MUST"] == 1
    assert {f["rule_id"] for f in data["findings"]} == {"A2", "B2", "B7"}
    assert data["findings"][0]["level"] == "MUST"  # MUST first


def test_spec_data_lists_every_rule():
    expected = ({f"A{i}" for i in range(1, 7)} | {f"B{i}" for i in range(1, 10)} | {f"C{i}" for i in range(1, 6)}
                | {f"D{i}" for i in range(0, 6)} | {f"E{i}" for i in range(1, 5)} | {f"F{i}" for i in range(1, 4)}
                | {f"H{i}" for i in range(1, 6)}
                | {f"T-<target>-{kind}" for kind in ("opset", "ir", "shape", "artifact", "qdq", "op", "cond", "dynamic",
                                                      "unknown", "partition", "crop", "qout", "dtype", "oracle")})
    rules = load_spec()["rules"]
    assert set(rules) == expected
    assert all(r["level"] in ("MUST", "SHOULD", "INFO") and r["fix"] and r["title"] for r in rules.values())
    assert all(rule_spec(rule_id)["source"] for rule_id in rules)
    assert len(sclblonnx_ops()) == 111 and "Erf" not in sclblonnx_ops()


def test_every_registered_rule_has_a_test():
    """Adding a rule without a case in this file fails here."""
    tested = {(c[2], "text" if c[0].startswith("text_") else "image") for c in STATIC_CASES}
    tested.add(("A5", "image"))  # external data needs tmp_path: test_external_data_is_a_should_and_checked_by_path
    missing = [r.name for r in list_rules() if not any((r.rule_id, p) in tested for p in r.profiles)]
    assert not missing, f"registered rules without a test case: {missing}"


def test_list_rules_filters():
    assert {r.rule_id for r in list_rules("B*", profile="text")} == {"B1", "B2", "B4", "B5"}
    assert all(r.doc for r in list_rules())


# --- CLI -------------------------------------------------------------------------------------------


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nxport.conventions", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_cli_exit_codes_and_json(tmp_path):
    good, bad, broken = tmp_path / "good.onnx", tmp_path / "bad.onnx", tmp_path / "broken.onnx"
    onnx.save(build(), good)
    onnx.save(build(opsets='"" : 19', in_shape="N,3,8,8"), bad)
    broken.write_bytes(b"\x00\x01garbage")
    ok = run_cli(good)
    assert ok.returncode == 0 and "CONFORMANT" in ok.stdout, ok.stdout + ok.stderr
    failing = run_cli(bad, "--no-runtime")
    assert failing.returncode == 1 and "[MUST] A1" in failing.stdout and "[MUST] B4" in failing.stdout
    report = json.loads(run_cli(bad, "--json").stdout)
    assert {"A1", "B4"} <= {f["rule_id"] for f in report["findings"]} and report["exit_code"] == 1
    for source in (broken, tmp_path / "missing.onnx"):
        result = run_cli(source, "--json")
        assert result.returncode == 2 and json.loads(result.stdout)["readable"] is False
        assert "Traceback" not in result.stderr
    folder = json.loads(run_cli(tmp_path, "--json", "--no-runtime").stdout)  # a folder: every *.onnx in it
    assert folder["exit_code"] == 2 and [f["verdict"] for f in folder["files"]] == ["FAIL", "UNREADABLE", "PASS"]


def test_cli_bad_image_is_a_user_error(tmp_path):
    good, not_image = tmp_path / "good.onnx", tmp_path / "photo.jpg"
    onnx.save(build(), good)
    not_image.write_text("not a jpeg")
    result = run_cli(good, "--image", not_image)
    assert result.returncode == 2 and "Cannot decode image" in result.stderr and "Traceback" not in result.stderr
