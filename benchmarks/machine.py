"""What machine the numbers came from, and its FP32 peak: cores used x FLOPs/cycle/core x clock.

FLOPs per cycle per core (FP32): AVX-512 with two FMA units 2 x 16 lanes x 2 = 64; AVX2 + FMA
2 x 8 x 2 = 32 (also AMD Zen 4, whose AVX-512 runs on 256-bit units); AVX2 + FMA on Zen 1 / Zen+
(128-bit units) 16; AVX without FMA 16 (one add + one mul port, 8 lanes); SSE 8. The clock is the
cpufreq maximum when the kernel exposes it, else /proc/cpuinfo `cpu MHz` (nominal under a hypervisor;
turbo can be higher, which would make the real fraction of peak lower than reported).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
CPUFREQ_MAX = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
SHOWN_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile", "f16c")


def parse_cpuinfo(text: str) -> dict:
    """The first processor block as a dict (keys as written, values stripped)."""
    info = {}
    for line in text.split("\n\n", 1)[0].splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            info[key.strip()] = value.strip()
    return info


def flops_per_cycle(info: dict) -> tuple[int, str]:
    flags = set(info.get("flags", "").split())
    vendor, family = info.get("vendor_id", ""), int(info.get("cpu family", "0") or 0)
    model = int(info.get("model", "0") or 0)
    amd = vendor == "AuthenticAMD"
    if "avx512f" in flags and not (amd and family == 0x19):
        return 64, "AVX-512: 2 FMA units x 16 FP32 lanes x 2"
    if "avx2" in flags and "fma" in flags:
        if amd and family == 0x17 and model < 0x30:
            return 16, "AVX2+FMA on Zen 1/Zen+ (128-bit units): 2 x 4 lanes x 2"
        return 32, "AVX2+FMA: 2 FMA units x 8 FP32 lanes x 2"
    if "avx" in flags:
        return 16, "AVX without FMA: 1 add + 1 mul x 8 lanes"
    return 8, "SSE: 1 add + 1 mul x 4 lanes"


def clock_mhz(info: dict, cpufreq_max: Path = CPUFREQ_MAX) -> tuple[float, str]:
    try:
        return int(cpufreq_max.read_text().strip()) / 1000.0, str(cpufreq_max)
    except (OSError, ValueError):
        pass
    if "cpu MHz" in info:
        return float(info["cpu MHz"]), "/proc/cpuinfo 'cpu MHz' (no cpufreq; nominal/current, turbo may be higher)"
    raise RuntimeError("no CPU clock found in cpufreq or /proc/cpuinfo; the peak cannot be computed")


def describe(threads: int, cpuinfo_text: str | None = None) -> dict:
    text = cpuinfo_text if cpuinfo_text is not None else (CPUINFO.read_text() if CPUINFO.exists() else "")
    info = parse_cpuinfo(text)
    per_cycle, per_cycle_why = flops_per_cycle(info)
    mhz, mhz_source = clock_mhz(info)
    flags = set(info.get("flags", "").split())
    return {
        "cpu": info.get("model name", platform.processor() or "unknown"),
        "vendor": info.get("vendor_id", ""), "family": info.get("cpu family", ""), "model": info.get("model", ""),
        "logical_cpus": os.cpu_count(), "flags": [f for f in SHOWN_FLAGS if f in flags],
        "hypervisor": "hypervisor" in flags, "threads_used": threads,
        "flops_per_cycle_per_core": per_cycle, "flops_per_cycle_source": per_cycle_why,
        "clock_mhz": round(mhz, 1), "clock_source": mhz_source,
        "peak_gflops_per_s": round(threads * per_cycle * mhz / 1000.0, 2),
        "peak_formula": f"{threads} core(s) x {per_cycle} FP32 FLOP/cycle x {mhz / 1000:.3f} GHz",
    }


def gemm_ceiling(threads: int, n: int = 1024, runs: int = 20) -> dict:
    """A measured ceiling next to the theoretical one: median GFLOP/s of an n x n FP32 torch matmul on
    the threads used. Above the theoretical peak means the clock figure is too low (turbo)."""
    import statistics
    import time

    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    # A ceiling is what the core can do: the fastest run (other work on the machine only slows runs down).
    return {"gemm_gflops_per_s": round(2 * n**3 / min(times) / 1e9, 2),
            "gemm_median_gflops_per_s": round(2 * n**3 / statistics.median(times) / 1e9, 2),
            "gemm_note": f"fastest of {runs} torch FP32 {n}x{n} matmuls on {threads} thread(s)"}


def run_header(threads: int, settings: dict, notes: list[str]) -> dict:
    """What every benchmark's JSON starts with: schema, start time, machine, versions, settings, notes."""
    import time

    return {"schema": 1, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": describe(threads),
            "versions": versions(), "settings": settings,
            "notes": [*notes, "machine shared with other work: medians and ratios only"]}


def versions() -> dict:
    import numpy
    import onnx
    import onnxruntime
    import onnxsim
    import timm
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
            "onnx": onnx.__version__, "onnxsim": onnxsim.__version__, "timm": timm.__version__,
            "numpy": numpy.__version__, "platform": platform.platform()}
