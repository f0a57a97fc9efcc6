"""The one `nxport` command: every subcommand is wired to its library and fails with typed errors."""

from __future__ import annotations

import subprocess
import sys

import pytest


def nxport(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nxport", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command,expected", [
    (["export", "classification", "--help"], "--labels"),
    (["export", "embedding", "--help"], "--pool"),
    (["export", "preconfigured", "--help"], "registry name"),
    (["export", "clip", "--help"], "--zero-shot"),
    (["export", "detection", "--help"], "--split"),
    (["check", "--help"], "--json"),
    (["calibrate", "--help"], "--eval-images"),
    (["serve", "--help"], "--api-key"),
    (["list-models", "--help"], "--templates"),
])
def test_every_subcommand_is_wired(command, expected):
    proc = nxport(*command)
    assert proc.returncode == 0 and expected in proc.stdout


def test_bad_input_is_a_typed_error_not_a_traceback(tmp_path):
    proc = nxport("export", "classification", "--model", "resnet181", "--random-init", "--output-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "UnknownModelError" in proc.stderr and "resnet18" in proc.stderr and "Traceback" not in proc.stderr
    proc = nxport("export", "classification", "--model", "resnet18", "--random-init", "--opset", "19",
                  "--output-dir", str(tmp_path))
    assert proc.returncode == 2 and "allowed: 11..18" in proc.stderr


def test_check_takes_every_flag_python_m_conventions_takes():
    """One parser: `nxport check` is conventions.cli's own add_arguments, so no flag can drift."""
    import argparse

    from nxport.conventions.cli import add_arguments

    ours = argparse.ArgumentParser()
    add_arguments(ours)
    flags = {flag for action in ours._actions for flag in action.option_strings} - {"-h", "--help"}
    shown = nxport("check", "--help").stdout
    assert flags and all(flag in shown for flag in flags), sorted(f for f in flags if f not in shown)


def test_check_subcommand_exit_codes(lite0_artifact, tmp_path):
    assert nxport("check", str(lite0_artifact), "--no-runtime").returncode == 0
    npu = nxport("check", str(lite0_artifact), "--target", "rknn", "--json")
    assert npu.returncode == 0 and '"target": "rknn"' in npu.stdout
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    assert nxport("check", str(broken)).returncode == 2


def test_export_prints_results_not_third_party_warnings(lite0_export):
    """torch.onnx, timm, onnxsim and onnxruntime all have warning channels; the user sees nxport's lines only."""
    proc, _ = lite0_export
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "warn" not in proc.stderr.lower() and "[W:onnxruntime" not in proc.stderr
    assert "[E:onnxruntime" not in proc.stderr and "CONFORMANT" in proc.stdout


def test_verbosity_flags_on_every_level_of_the_command():
    from nxport.core.console import NORMAL, QUIET, VERBOSE
    from nxport.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["check", "m.onnx"]).verbosity == NORMAL
    assert parser.parse_args(["-q", "check", "m.onnx"]).verbosity == QUIET
    assert parser.parse_args(["check", "-q", "m.onnx"]).verbosity == QUIET
    assert parser.parse_args(["export", "classification", "--model", "m", "-v"]).verbosity == VERBOSE
    assert "-q, --quiet" in nxport("check", "--help").stdout and "-v, --verbose" in nxport("--help").stdout
