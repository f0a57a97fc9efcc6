"""The benchmark suite keeps working: a tiny smoke pass of benchmarks/run.py (no assertion on any
timing), plus the FLOP counter and the CPU peak on fixed inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def test_quick_smoke_writes_json_markdown_and_a_chart(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks/run.py"), "--quick", "--models", "resnet18", "--runs", "3",
         "--warmup", "1", "--skip-int8", "--output-dir", str(out)],
        check=False, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert {"machine", "versions", "settings", "models", "charts", "wall_s"} <= set(results)
    (model,) = results["models"]
    assert model["model"] == "resnet18"
    assert {"ours_s", "baseline_s", "ours_total_s", "baseline_total_s"} <= set(model["export"])
    assert set(model["export"]["ours_s"]) == {"load", "export", "simplify", "parity", "check"}
    assert {"ort", "ort_bare", "torch", "speedup_vs_torch"} <= set(model["latency"])
    assert {"gflops_onnx", "gflops_torch_counter", "ort", "torch", "peak_gflops_per_s"} <= set(model["roofline"])
    assert model["int8"] == {"skipped": "--skip-int8"}
    assert list(out.glob("*.png")) and (out / "RESULTS.md").read_text().count("| resnet18 |") == 3
    assert "ratio > 1 means ours" in proc.stdout


def test_unknown_model_is_refused_with_the_allowed_names(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks/run.py"), "--models", "resnet19",
                           "--output-dir", str(tmp_path)], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "resnet19" in proc.stderr and "resnet18" in proc.stderr


def test_onnx_flop_count_on_a_tiny_graph():
    import onnx

    from benchmarks.roofline import count_onnx_flops

    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[1, 3, 8, 8] x, float[4, 3, 3, 3] w, float[2, 2, 5] a, float[2, 5, 7] b)
            => (float[1, 4, 6, 6] y, float[2, 2, 7] z) {
            y = Conv(x, w)
            z = MatMul(a, b)
        }""")
    counted = count_onnx_flops(model)
    assert counted["by_op"] == {"Conv": 2 * 4 * 6 * 6 * 3 * 3 * 3, "MatMul": 2 * 2 * 2 * 7 * 5}
    assert counted["nodes_without_shape"] == []


@pytest.mark.parametrize("vendor,family,model,flags,per_cycle", [
    ("GenuineIntel", 6, 85, "avx avx2 fma avx512f", 64),
    ("AuthenticAMD", 25, 1, "avx avx2 fma", 32),            # Zen 3
    ("AuthenticAMD", 25, 17, "avx avx2 fma avx512f", 32),   # Zen 4: AVX-512 on 256-bit units
    ("AuthenticAMD", 23, 1, "avx avx2 fma", 16),            # Zen 1: 128-bit units
    ("GenuineIntel", 6, 42, "avx", 16),
    ("GenuineIntel", 6, 23, "sse4_2", 8),
])
def test_cpu_peak_from_cpuinfo(vendor, family, model, flags, per_cycle, tmp_path):
    from benchmarks import machine

    text = (f"processor\t: 0\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
            f"model name\t: Test CPU\ncpu MHz\t\t: 2000.000\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    info = machine.parse_cpuinfo(text)
    assert machine.flops_per_cycle(info)[0] == per_cycle
    mhz, source = machine.clock_mhz(info, cpufreq_max=tmp_path / "missing")
    assert mhz == 2000.0 and "cpu MHz" in source
    assert machine.clock_mhz(info, cpufreq_max=_write(tmp_path / "max", "3500000"))[0] == 3500.0


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_conformance_batch_smoke(tmp_path):
    """4 generated models (1 broken) checked as one call and as one process per file: the JSON and
    the RESULTS.md section are written and every way of running gives the expected verdicts."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks/conformance_batch.py"), "--models", "4",
                           "--no-runtime", "--output-dir", str(tmp_path)],
                          check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "conformance_batch.json").read_text())
    assert set(results["wall_s"]) == {"one_call_jobs1", "one_call_jobs2", "process_per_file"}
    assert results["models"]["total"] == 4 and results["models"]["broken"] == 1
    assert results["verdicts_as_expected"] and not results["verdict_errors"]
    assert set(results["ratios"]) >= {"process_per_file_over_one_call_jobs1", "one_call_jobs1_over_jobs2"}
    section = (tmp_path / "conformance_batch.md").read_text()
    assert section.startswith("## Conformance check over many files") and "| one process per file |" in section


def test_detection_smoke_yolov8n(tmp_path):
    """The real YOLOv8n through `nxport export detection`, then artifact vs raw network in onnxruntime:
    the JSON and DETECTION.md are written with the tail-cost ratio (its value is not asserted)."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.detection", "--models", "yolov8n", "--runs", "2",
                           "--warmup", "1", "--output-dir", str(tmp_path)],
                          cwd=REPO, check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "detection.json").read_text())
    (model,) = results["models"]
    assert model["model"] == "yolov8n" and model["input"] == [1, 3, 320, 320]
    assert {"ort_artifact", "ort_artifact_low_threshold", "ort_raw_network", "tail_cost_ratio",
            "tail_cost_ratio_low_threshold", "rows", "rows_low_threshold"} <= set(model["latency"])
    assert model["latency"]["ort_artifact"]["runs"] == 2 and model["latency"]["rows"] >= 1  # astronaut's face
    assert {"load", "tail", "parity", "check"} <= set(model["export"]["stages_s"])
    assert model["parity"]["all_classes_match"] and model["artifact_bytes"] > 10_000_000
    assert not list(tmp_path.glob(".work-*"))  # the exported files are removed with the work folder
    assert "| yolov8n | **tail cost: artifact / raw network" in (tmp_path / "DETECTION.md").read_text()


def test_detection_bad_yolos_size_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.detection", "--yolos-size", "500",
                           "--output-dir", str(tmp_path)], cwd=REPO, check=False, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "500" in proc.stderr and "16" in proc.stderr
