"""What machine the numbers came from, and its FP32 peak: cores used x FLOPs/cycle/core x clock.

FLOPs per cycle per core (FP32), from the /proc/cpuinfo flags and the microarchitecture (vendor, family,
model): a core sustains (FMA units) x (FP32 lanes per unit) x 2 (multiply + add). Assumed units:
AVX-512 with two 512-bit FMA units 2 x 16 x 2 = 64 (Intel Xeon Gold/Platinum, AMD Zen 5; Intel parts
with one 512-bit unit, e.g. Xeon Silver or client Ice/Tiger Lake, reach half, so their peak here is an
upper bound); AMD Zen 4 (family 0x19) executes AVX-512 as two halves on its two 256-bit FMA units, so
2 x 8 x 2 = 32, the same as AVX2 + FMA 2 x 8 x 2 = 32; AVX2 + FMA on Zen 1 / Zen+ (128-bit units) 16;
AVX without FMA 16 (one add + one mul port, 8 lanes); SSE 8.

The clock is the highest of: the cpufreq maximum, the clock measured by benchmarks/clock.py (a dependent
integer chain, so turbo is included), /proc/cpuinfo `cpu MHz`. Under a hypervisor only the last is
exposed and it is the nominal clock, below what a boosting core runs at: a peak from it is too low
(on the 2-vCPU EPYC this project is measured on, 2.6 GHz nominal vs 3.7 GHz measured).
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
    if "avx512f" in flags and amd and family == 0x19:
        return 32, "Zen 4: AVX-512 split over 2 x 256-bit FMA units: 2 x 8 FP32 lanes x 2"
    if "avx512f" in flags:
        return 64, "AVX-512: 2 FMA units x 16 FP32 lanes x 2"
    if "avx2" in flags and "fma" in flags:
        if amd and family == 0x17 and model < 0x30:
            return 16, "AVX2+FMA on Zen 1/Zen+ (128-bit units): 2 x 4 lanes x 2"
        return 32, "AVX2+FMA: 2 FMA units x 8 FP32 lanes x 2"
    if "avx" in flags:
        return 16, "AVX without FMA: 1 add + 1 mul x 8 lanes"
    return 8, "SSE: 1 add + 1 mul x 4 lanes"


def clock_mhz(info: dict, cpufreq_max: Path = CPUFREQ_MAX, measured_mhz: float | None = None) -> tuple[float, str]:
    """The highest clock any source knows, with where it came from: a peak is an upper bound, and every
    source errs low (cpuinfo is the nominal clock, a measurement can be slowed by a busy machine)."""
    known = []
    try:
        known.append((int(cpufreq_max.read_text().strip()) / 1000.0, str(cpufreq_max)))
    except (OSError, ValueError):
        pass
    if measured_mhz:
        known.append((measured_mhz, "measured (benchmarks/clock.py: dependent imul chain, turbo included)"))
    if "cpu MHz" in info:
        known.append((float(info["cpu MHz"]), "/proc/cpuinfo 'cpu MHz' (nominal/current, turbo may be higher)"))
    if not known:
        raise RuntimeError("no CPU clock found in cpufreq, /proc/cpuinfo or by measuring; the peak cannot be computed")
    return max(known)


def describe(threads: int, cpuinfo_text: str | None = None) -> dict:
    from benchmarks.clock import measured_clock_mhz

    text = cpuinfo_text if cpuinfo_text is not None else (CPUINFO.read_text() if CPUINFO.exists() else "")
    info = parse_cpuinfo(text)
    per_cycle, per_cycle_why = flops_per_cycle(info)
    mhz, mhz_source = clock_mhz(info, measured_mhz=measured_clock_mhz())
    cpus = os.cpu_count() or 1
    flags = set(info.get("flags", "").split())
    return {
        "cpu": info.get("model name", platform.processor() or "unknown"),
        "vendor": info.get("vendor_id", ""), "family": info.get("cpu family", ""), "model": info.get("model", ""),
        "logical_cpus": cpus, "flags": [f for f in SHOWN_FLAGS if f in flags],
        "hypervisor": "hypervisor" in flags, "threads_used": threads,
        "flops_per_cycle_per_core": per_cycle, "flops_per_cycle_source": per_cycle_why,
        "clock_mhz": round(mhz, 1), "clock_source": mhz_source,
        "peak_gflops_per_s": round(threads * per_cycle * mhz / 1000.0, 2),
        "peak_formula": f"{threads} core(s) x {per_cycle} FP32 FLOP/cycle x {mhz / 1000:.3f} GHz",
        # Logical CPUs counted as cores: a VM does not say whether its vCPUs are SMT siblings on the host.
        "peak_all_cpus_gflops_per_s": round(cpus * per_cycle * mhz / 1000.0, 2),
    }


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
