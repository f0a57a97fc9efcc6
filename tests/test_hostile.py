"""Hostile inputs (issue 11): a generated corpus through `python -m nxport.conventions`, bounded stages,
and sclblonnx's second opinion beside ours."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nxport import conventions
from nxport.conventions._sandbox import Limits, Status, run_bounded
from nxport.conventions._reference.sclblonnx_opinion import explain
from hostile_corpus import classifier, loop_in_front, write_corpus

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 3  # per model run: the hangs end here, everything else finishes well before
MEMORY_MB = 1024


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict:
    return write_corpus(tmp_path_factory.mktemp("hostile"))


# Runs the CLI in a fresh interpreter and prints that interpreter's own peak memory and its children's
# (the sandboxed model runs) on the last stderr line: RUSAGE_CHILDREN of the test process itself would
# include every export any earlier test ran.
_MEASURED = ("import resource, runpy, sys\n"
             "sys.argv = ['conventions', *sys.argv[1:]]\n"
             "try:\n    runpy.run_module('conventions', run_name='__main__')\n"
             "except SystemExit as exit_:\n    code = exit_.code\n"
             "peak = max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
             "print(f'peak_kb={peak}', file=sys.stderr)\n"
             "sys.exit(code)\n")


def run_cli(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _MEASURED, *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def peak_mb(result: subprocess.CompletedProcess) -> float:
    line = [line for line in result.stderr.splitlines() if line.startswith("peak_kb=")][-1]
    return int(line.split("=")[1]) / 1024


def _by_path(stdout: str) -> dict:
    return {f["path"]: f for f in json.loads(stdout)["files"]}


def test_every_hostile_file_gets_its_verdict(corpus):
    """One call over the whole corpus (2 workers): each file gets its exit code and rule, no traceback,
    and no child grows past the memory cap (a MemoryError inside the cap is the H2 verdict)."""
    paths = [path for _, path in corpus.values()]
    result = run_cli(*paths, "--format", "json", "--timeout", TIMEOUT_S, "--memory-limit", MEMORY_MB, "--jobs", 2)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    files = _by_path(result.stdout)
    assert result.returncode == 2  # the worst verdict: files that are not models
    wrong = []
    for name, (expect, path) in corpus.items():
        got = files[str(path)]
        musts = {f["rule_id"] for f in got["findings"] if f["level"] == "MUST"}
        if got["exit_code"] != expect.exit_code or (expect.rule_id and expect.rule_id not in musts):
            wrong.append(f"{name}: exit {got['exit_code']} rules {sorted(musts)}; expected {expect}")
    assert not wrong, "\n".join(wrong)
    assert peak_mb(result) < MEMORY_MB + 2048, f"a process of this run reached {peak_mb(result):.0f} MB"


def test_reference_runtime_path_is_bounded_too(corpus):
    """One file per family through --reference-runtime: onnxruntime 1.17 and sclblonnx run under
    the same limits, and the hang still ends in H1."""
    picks = {}
    for name, (expect, path) in corpus.items():
        picks.setdefault(expect.family, (name, expect, path))
    picks["hang"] = ("loop_trip_1e15", *corpus["loop_trip_1e15"])
    paths = [p for _, _, p in picks.values()]
    result = run_cli(*paths, "--format", "json", "--reference-runtime", "--timeout", TIMEOUT_S, "--jobs", 2)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    files = _by_path(result.stdout)
    for name, expect, path in picks.values():
        assert files[str(path)]["exit_code"] == expect.exit_code, (name, files[str(path)])
    hang = files[str(corpus["loop_trip_1e15"][1])]
    assert "H1" in {f["rule_id"] for f in hang["findings"]}


def test_sandbox_kills_a_hang_and_reports_memory():
    limits = Limits(timeout_s=1, memory_mb=256)
    assert run_bounded(_sleep, (30,), limits).status is Status.TIMEOUT
    memory = run_bounded(_allocate, (2 << 30,), limits)
    assert memory.status is Status.MEMORY and "MemoryError" in memory.detail
    ok = run_bounded(_allocate, (1 << 20,), limits)
    assert ok.status is Status.OK and ok.value == 1 << 20 and ok.peak_rss_mb > 0


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def _allocate(size: int) -> int:
    return len(bytearray(size))


def test_timeout_is_h1_with_a_fix_and_exit_1():
    report = conventions.check(loop_in_front(10**15), limits=Limits(timeout_s=1))
    (h1,) = [f for f in report.findings if f.rule_id == "H1"]
    assert h1.level.value == "MUST" and "1 s" in h1.message and "Loop" in h1.fix
    assert report.exit_code == 1 and report.runtime["sandbox"]["timeout_s"] == 1


def test_timeout_bounds_the_whole_verdict_start_up_included(tmp_path):
    """--timeout is what the user waits for: interpreter start-up, imports and the static rules count
    against it (a hang used to answer after timeout + 1..5 s)."""
    path = tmp_path / "hang.onnx"
    path.write_bytes(loop_in_front(10**15).SerializeToString())
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "nxport.conventions", str(path), "--timeout", str(TIMEOUT_S)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - started
    assert result.returncode == 1 and "[MUST] H1" in result.stdout and "start-up included" in result.stdout
    assert wall < TIMEOUT_S + 1.0, f"verdict after {wall:.2f} s with --timeout {TIMEOUT_S}"


def test_a_spent_budget_starts_no_child():
    spent = Limits(timeout_s=1, started=time.monotonic() - 2)
    outcome = run_bounded(_sleep, (30,), spent)
    assert outcome.status is Status.TIMEOUT and "spent before the run started" in outcome.detail


def test_huge_static_input_is_refused_before_allocation():
    report = conventions.check(classifier(shape="1,3,50000,50000"))
    (h3,) = [f for f in report.findings if f.rule_id == "H3"]
    assert "28,610 MiB" in h3.message and report.exit_code == 1
    assert "sandbox" not in report.runtime  # no child was started


def test_good_model_still_passes_through_the_sandbox():
    report = conventions.check(classifier(), limits=Limits(timeout_s=30))
    assert report.conformant, report.format_text()
    assert report.runtime["sandbox"]["peak_rss_mb"] > 0 and report.runtime["outputs"]


def test_sclblonnx_opinion_explains_disagreements():
    stale = explain(False, ["ERROR: The operator(s) ['Erf'] are currently not supported."], [])
    assert "stale" in stale and "Erf" in stale and "A6" in stale
    blind = explain(True, [], ["C3", "E2"])
    assert "C3, E2" in blind
    assert explain(False, ["ERROR: x"], ["A4"]) is None  # both fail: they agree


def test_sclblonnx_runs_beside_ours_on_a_real_artifact(lite0_artifact):
    from nxport.conventions._reference.runtime import reference_python

    if reference_python() is None:
        pytest.fail("run ./setup.sh: it creates .venv-nx-reference with sclblonnx 0.3.0")
    report = conventions.check(lite0_artifact, reference=True)
    opinion = report.runtime["sclblonnx"]
    assert opinion["ok"] and opinion["sclblonnx"] == "0.3.0" and opinion["onnx"] == "1.15.0", opinion
    assert report.conformant and opinion["passed"] is True and opinion["agrees"] is True
    notes = [f for f in report.findings if f.rule_id == "A6" and "sclblonnx 0.3.0 check" in f.message]
    assert notes and notes[0].level.value == "INFO"
