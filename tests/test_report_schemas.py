"""The CI report formats against their schemas (issue 15): the SARIF that one call produces for a
folder of real artifacts and hostile models is validated against the official SARIF 2.1.0 JSON
schema, kept as test data (tests/data/README.md names its source and licence; nothing is fetched),
and the JUnit XML of the same folder is parsed by junitparser."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

import hostile_corpus
from hostile_corpus import MODELS, classifier

REPO = Path(__file__).resolve().parents[1]
SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
# Static verdicts from several hostile families, plus one hang so a runtime-stage rule (H1) is in the log.
HOSTILE = ("class_name_nul", "class_name_bidi_override", "cycle", "duplicate_outputs", "vars_infinity",
           "means_nan", "input_50000x50000", "initializer_1e12_no_data", "loop_trip_1e15")
ODD_NAME = "odd name #1 100% ü.onnx"  # a space, '#', '%' and non-ASCII: all must be percent-encoded
URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")  # RFC 3986 unreserved, reserved, pct


@pytest.fixture(scope="module")
def folder(tmp_path_factory, lite0_artifact) -> Path:
    root = tmp_path_factory.mktemp("schemas")
    shutil.copy(lite0_artifact, root / "lite0.onnx")
    (root / "conformant").mkdir()
    (root / "conformant" / ODD_NAME).write_bytes(classifier().SerializeToString())
    hostile = root / "hostile"
    hostile.mkdir()
    for name in HOSTILE:
        (hostile / f"{name}.onnx").write_bytes(MODELS[name][1]().SerializeToString())
    (hostile / "outside_secret.bin").write_bytes(b"\0" * 48)
    hostile_corpus._external(hostile, "ext_dotdot", "../outside_secret.bin")
    (hostile / "random.onnx").write_bytes(bytes(range(256)) * 16)
    (hostile / "empty.onnx").write_bytes(b"")
    return root


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nxport.conventions", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def sarif_log(folder) -> dict:
    result = run_cli(folder, "--format", "sarif", "--jobs", 2, "--timeout", 2)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def validators() -> list:
    """The validator the schema declares (Draft 4) and Draft 7, both checked against their meta-schema."""
    from jsonschema import Draft7Validator
    from jsonschema.validators import validator_for

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"].endswith("/errata01/os/schemas/sarif-schema-2.1.0.json")
    out = []
    for cls in (validator_for(schema), Draft7Validator):
        cls.check_schema(schema)
        out.append(cls(schema, format_checker=cls.FORMAT_CHECKER))
    return out


def _errors(validator, log: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(log)]


def test_sarif_of_real_and_hostile_models_is_valid_sarif_2_1_0(sarif_log, validators, folder):
    for validator in validators:
        assert not _errors(validator, sarif_log), "\n".join(_errors(validator, sarif_log)[:20])
    (run,) = sarif_log["runs"]
    results = run["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert all(URI_CHARS.fullmatch(uri) for uri in uris), sorted(uris)
    by_file = {Path(unquote(uri)).name: uri for uri in uris}
    assert {f"{name}.onnx" for name in HOSTILE} | {"model.onnx", "random.onnx", "empty.onnx"} <= set(by_file)
    lite0 = [r for r in results
             if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == by_file["lite0.onnx"]]
    assert lite0 and all(r["level"] != "error" for r in lite0)  # the real artifact passes (advice only)
    rules = {r["ruleId"] for r in results if r["level"] == "error"}
    assert {"E2", "H1", "H3", "H4", "H5", "C3"} <= rules, sorted(rules)
    assert run["tool"]["driver"]["rules"][results[0]["ruleIndex"]]["id"] == results[0]["ruleId"]


def test_sarif_paths_are_percent_encoded_uri_references(folder, validators):
    """A conformant model with a hostile file name: its SHOULD/INFO results point at the right file."""
    odd = folder / "conformant" / ODD_NAME
    log = json.loads(run_cli(odd, "--format", "sarif", "--fail-on", "info", "--no-runtime").stdout)
    assert not _errors(validators[0], log)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    (uri,) = uris
    assert URI_CHARS.fullmatch(uri) and unquote(uri) == str(odd)


def test_the_schema_rejects_a_broken_log(sarif_log, validators):
    """The validation has teeth: a result level SARIF does not define and a result without a message."""
    broken = copy.deepcopy(sarif_log)
    broken["runs"][0]["results"][0]["level"] = "fatal"
    del broken["runs"][0]["results"][1]["message"]
    for validator in validators:
        errors = "\n".join(_errors(validator, broken))
        assert "'fatal' is not one of" in errors and "'message' is a required property" in errors


def test_junit_of_the_same_folder_parses_with_junitparser(folder, tmp_path):
    from junitparser import Error, Failure, JUnitXml

    result = run_cli(folder, "--format", "junit", "--jobs", 2, "--no-runtime")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    path = tmp_path / "report.xml"
    path.write_text(result.stdout, encoding="utf-8")
    suites = {Path(s.name).name: s for s in JUnitXml.fromfile(str(path))}
    assert {f"{name}.onnx" for name in HOSTILE} | {"lite0.onnx", ODD_NAME, "random.onnx"} <= set(suites)
    assert suites["lite0.onnx"].failures == 0 and suites["lite0.onnx"].tests > 20
    failed = {case.name.split()[0] for case in suites["class_name_nul.onnx"]
              if any(isinstance(r, Failure) for r in case.result)}
    assert "E2" in failed
    assert any(isinstance(r, Error) for case in suites["random.onnx"] for r in case.result)
