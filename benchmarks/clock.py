"""The core clock this CPU really runs at, measured: under a hypervisor /proc/cpuinfo `cpu MHz` is the
nominal (TSC) clock and cpufreq is absent, so a boosting core (an EPYC at 2.6 GHz nominal, 3.7 GHz
running) makes a peak computed from it too low, and achieved GFLOP/s land above "100% of peak".

How: a chain of dependent 64-bit `imul rax, rax`, 3 cycles each on every x86-64 core since Intel Sandy
Bridge and AMD Zen (Agner Fog's instruction tables), run as machine code from an executable page. Cycles
are known, wall time is measured: cycles / seconds is the clock. Each run lasts ~0.1 ms, so the fastest
of a few hundred lands inside one scheduler time slice even on a shared machine. x86-64 Linux only;
anywhere else (or where executable pages are refused) the answer is None and the caller falls back to
what the OS reports.
"""

from __future__ import annotations

import ctypes
import mmap
import platform
import time

IMUL_LATENCY_CYCLES = 3
IMULS_PER_ITERATION = 64
ITERATIONS = 2000
REPEATS = 300


def _dependent_imul_chain() -> bytes:
    """long f(long n): mov rax, rdi; loop { imul rax, rax (x64); dec rdi; jnz loop }; ret.
    The counter update runs beside the chain, so one iteration costs exactly 64 x 3 cycles."""
    body = bytes.fromhex("480fafc0") * IMULS_PER_ITERATION + bytes.fromhex("48ffcf")  # imul rax,rax ... dec rdi
    jump_back = -(len(body) + 6)  # jnz rel32 (6 bytes) back to the first imul
    return bytes.fromhex("4889f8") + body + b"\x0f\x85" + jump_back.to_bytes(4, "little", signed=True) + b"\xc3"


def measured_clock_mhz() -> float | None:
    if platform.system() != "Linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    code = _dependent_imul_chain()
    try:
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError):  # W^X policies (SELinux, hardened kernels) refuse executable pages
        return None
    try:
        page.write(code)
        pointer = ctypes.c_char.from_buffer(page)
        chain = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_long)(ctypes.addressof(pointer))
        chain(ITERATIONS)  # page in, wake the core up
        fastest = min(_timed(chain) for _ in range(REPEATS))
        del chain, pointer  # the page cannot close while a ctypes view of it is alive
    finally:
        page.close()
    return ITERATIONS * IMULS_PER_ITERATION * IMUL_LATENCY_CYCLES / fastest / 1e6


def _timed(chain) -> float:
    start = time.perf_counter()
    chain(ITERATIONS)
    return time.perf_counter() - start
