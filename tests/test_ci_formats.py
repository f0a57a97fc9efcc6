"""The check in CI (issue 15): a folder of real and broken models in every report format, ignores
with reasons from the repository config, and a real pre-commit run on a temporary git repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nxport.conventions.checking.findings import Finding, Level
from nxport.conventions.ci.formats import CheckReport, FailOn, Format, render
from hostile_corpus import DOC, classifier

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory, lite0_artifact) -> Path:
    """The real lite0 artifact, a conformant tiny model, a SHOULD-only one, a MUST failure, junk."""
    folder = tmp_path_factory.mktemp("models")
    shutil.copy(lite0_artifact, folder / "lite0.onnx")
    (folder / "tiny.onnx").write_bytes(classifier().SerializeToString())
    should = classifier()
    should.graph.input[0].name = "input"
    for node in should.graph.node:
        node.input[:] = ["input" if i == "image-" else i for i in node.input]
    (folder / "legacy").mkdir()
    (folder / "legacy" / "input_name.onnx").write_bytes(should.SerializeToString())
    bad = classifier(doc=DOC.format(means="[0, 0, 0]", vars="[1e999, 1, 1]"))
    (folder / "vars_inf.onnx").write_bytes(bad.SerializeToString())
    (folder / "junk.onnx").write_bytes(b"not a model")
    return folder


def run_cli(*args, cwd=REPO) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "nxport.conventions", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def outputs(models) -> dict:
    """One call per format over the whole folder (2 workers), plus the JSON for the verdicts."""
    return {fmt: run_cli(models, "--format", fmt.value, "--jobs", 2) for fmt in Format}


def test_folder_verdicts_and_exit_code(outputs, models):
    result = outputs[Format.JSON]
    assert result.returncode == 2 and "Traceback" not in result.stderr  # worst verdict: the junk file
    files = {Path(f["path"]).name: f for f in json.loads(result.stdout)["files"]}
    assert {name: f["verdict"] for name, f in files.items()} == {
        "lite0.onnx": "PASS", "tiny.onnx": "PASS", "input_name.onnx": "PASS", "vars_inf.onnx": "FAIL",
        "junk.onnx": "UNREADABLE"}
    assert files["input_name.onnx"]["counts"]["SHOULD"] == 1
    text = outputs[Format.TEXT].stdout
    assert "file" in text and "slowest" in text and "5 files, 2 failed (fail-on must); exit 2" in text


def test_junit_parses_with_junitparser(outputs, models, tmp_path):
    from junitparser import Failure, JUnitXml, Skipped

    path = tmp_path / "report.xml"
    path.write_text(outputs[Format.JUNIT].stdout)
    suites = {Path(s.name).name: s for s in JUnitXml.fromfile(str(path))}
    assert set(suites) == {"lite0.onnx", "tiny.onnx", "input_name.onnx", "vars_inf.onnx", "junk.onnx"}
    failed = {case.name.split()[0] for case in suites["vars_inf.onnx"]
              if any(isinstance(r, Failure) for r in case.result)}
    assert failed == {"C3"}
    skipped = {case.name.split()[0] for case in suites["input_name.onnx"]
               if any(isinstance(r, Skipped) for r in case.result)}
    assert skipped == {"B2"}
    assert suites["lite0.onnx"].failures == 0 and suites["lite0.onnx"].tests > 20


def test_sarif_rules_results_and_locations(outputs):
    log = json.loads(outputs[Format.SARIF].stdout)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = log["runs"]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert "C3" in rules and rules["C3"]["help"]["text"].startswith("fix: ")
    assert rules["C3"]["defaultConfiguration"]["level"] == "error"
    errors = [r for r in run["results"] if r["level"] == "error"]
    c3 = next(r for r in errors if r["ruleId"] == "C3")
    assert c3["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("vars_inf.onnx")
    assert run["tool"]["driver"]["rules"][c3["ruleIndex"]]["id"] == "C3"


def test_github_commands(outputs):
    lines = outputs[Format.GITHUB].stdout.splitlines()
    error = next(line for line in lines if line.startswith("::error file=") and "vars_inf.onnx" in line)
    assert ",title=C3 " in error and "::means [0, 0, 0] / vars [inf, 1, 1]" in error
    assert any(line.startswith("::warning file=") and "B2" in line for line in lines)


def test_fail_on_should_and_config_ignores_with_reasons(models, tmp_path):
    assert run_cli(models / "legacy", "--fail-on", "should", "--no-runtime").returncode == 1
    (models / ".nxport.toml").write_text(
        '[tool.nxport.conventions]\nfail-on = "should"\n[[tool.nxport.conventions.ignore]]\n'
        'rules = ["B2"]\npaths = ["legacy/*.onnx"]\nreason = "legacy input name, renamed in v2"\n')
    try:
        result = run_cli(models / "legacy", "--format", "sarif", "--no-runtime", cwd=models)
        assert result.returncode == 0, result.stdout + result.stderr
        (b2,) = [r for r in json.loads(result.stdout)["runs"][0]["results"] if r["ruleId"] == "B2"]
        assert b2["suppressions"][0]["justification"] == "legacy input name, renamed in v2"
        (models / ".nxport.toml").write_text('[[ignore]]\nrules = ["B2"]\n')  # no reason: refused
        refused = run_cli(models / "legacy", "--no-runtime", cwd=models)
        assert refused.returncode == 2 and "has no reason" in refused.stderr
    finally:
        (models / ".nxport.toml").unlink()


def test_formats_take_any_producers_findings():
    """A future --target preflight only has to hand over Findings."""
    report = CheckReport("m.onnx", findings=[Finding("T1", Level.MUST, "Hailo rejects Loop", "unroll it")],
                         rules_checked=["T1"])
    for fmt in Format:
        assert "T1" in render([report], fmt, FailOn.MUST)


def test_pre_commit_hook_fails_on_a_bad_model(tmp_path):
    """pre-commit itself, on a temporary git repository: a `repo: local` hook with this checkout's
    hook entry (a remote hook repo would need the network to install)."""
    hooks = (REPO / ".pre-commit-hooks.yaml").read_text()
    assert "id: nxport-conventions" in hooks and "entry: python -m nxport.conventions" in hooks
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PRE_COMMIT_HOME": str(tmp_path / "cache"),
           "PYTHONPATH": str(REPO), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n  - id: nxport-conventions\n    name: Nx conventions\n"
        f"    entry: {sys.executable} -m nxport.conventions --no-runtime\n    language: system\n    files: \\.onnx$\n")
    bad = classifier(name="scores-0:c\x00at;1:dog;2:car;3:bus")
    (repo / "model.onnx").write_bytes(bad.SerializeToString())
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
    result = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Failed" in result.stdout and "[MUST] E2" in result.stdout and "U+0000" in result.stdout


def test_a_folder_without_models_fails_in_every_format(tmp_path, capsys):
    """A mistyped-but-existing folder (or one named like a model) must turn the CI job red, naming the glob."""
    from nxport.conventions.cli import main

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "README.md").write_text("no models here")
    (tmp_path / "x.onnx").mkdir()
    cases = [(folder, fmt.value) for folder in ("models", "x.onnx") for fmt in Format]
    for name, fmt in cases + [("models/*.onnx", "sarif")]:
        assert main([str(tmp_path / name), "--format", fmt, "--no-runtime"]) == 2, (name, fmt)
        out, err = capsys.readouterr()
        assert out == "" and "NoModelsFoundError" in err and str(tmp_path / name) in err, (name, fmt, err)
        assert "**/*.onnx" in err or "matches no .onnx file" in err


def test_a_folder_named_like_a_model_is_searched_not_read(tmp_path):
    from nxport.conventions.checking.batch import expand_paths

    (tmp_path / "x.onnx").mkdir()
    (tmp_path / "x.onnx" / "inner.onnx").write_bytes(classifier().SerializeToString())
    assert expand_paths([str(tmp_path / "x.onnx")]) == [str(tmp_path / "x.onnx" / "inner.onnx")]
    assert expand_paths([str(tmp_path / "*.onnx")]) == [str(tmp_path / "x.onnx" / "inner.onnx")]


def test_choices_are_listed_by_value():
    help_text = run_cli("--help").stdout
    assert "{text,json,junit,sarif,github}" in help_text and "{must,should,info}" in help_text
    assert "Format." not in help_text and "FailOn." not in help_text
    wrong = run_cli("model.onnx", "--format", "xml")
    assert wrong.returncode == 2 and "'text', 'json', 'junit', 'sarif', 'github'" in wrong.stderr
