"""Run untrusted work in a child process with a wall-clock limit and a memory cap (rules H1-H3).

The checker meets files nobody vetted: a Loop with a 10^15 trip count never returns, an input of
(1, 3, 50000, 50000) allocates 30 GB before the first op runs. Everything that executes a model
(onnxruntime here, the reference runtime in its own interpreter) therefore runs in a child:

- wall clock: `Limits.timeout_s` bounds the whole verdict of one file (reading it, the static rules,
  starting the child, the run; from the start of the process for a single-file CLI run): the child is
  killed (SIGKILL) when that budget is spent -> finding H1;
- memory: RLIMIT_AS caps the child's address-space growth at `Limits.memory_mb` over what it
  inherits; an allocation beyond it fails inside the child -> finding H2 (so does a child killed
  by a signal: a crash in native code must not take the checker with it);
- feed size: a static input larger than `Limits.feed_bytes` is refused before anything is
  allocated -> finding H3.

On Linux the child is forked (milliseconds, inherits the loaded model); elsewhere it is spawned.
"""

from __future__ import annotations

import enum
import math
import multiprocessing
import os
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from nxport.conventions import spec

# A fresh interpreter with numpy and onnxruntime imported maps ~1.4 GB of address space (thread
# stacks, arenas); the cap adds to this.
INTERPRETER_BYTES = 2 << 30
MEMORY_ERROR_MARKERS = ("bad_alloc", "bad allocation", "Failed to allocate", "MemoryError", "std::bad_alloc",
                        "Cannot allocate memory", "out of memory")


@dataclass(frozen=True)
class Limits:
    """What one model may cost the checker. Defaults live in conventions/spec/nx_conventions.json."""

    timeout_s: float = field(default_factory=lambda: float(spec.limit("runtime_timeout_s")))
    memory_mb: int = field(default_factory=lambda: int(spec.limit("runtime_memory_mb")))
    feed_bytes: int = field(default_factory=lambda: int(spec.limit("feed_bytes_max")))
    # time.monotonic() when the verdict's clock started; None: when the check of the file begins
    started: float | None = None

    def __post_init__(self):
        if not self.timeout_s > 0 or not self.memory_mb > 0 or not self.feed_bytes > 0:
            raise ValueError(f"limits must be positive, got {self}")

    def clock_started(self) -> "Limits":
        """These limits with the verdict's clock running (from now, unless it already runs)."""
        return self if self.started is not None else replace(self, started=time.monotonic())

    def seconds_left(self) -> float:
        """What remains of `timeout_s` for the rest of this verdict."""
        if self.started is None:
            return self.timeout_s
        return self.timeout_s - (time.monotonic() - self.started)


def process_started() -> float:
    """time.monotonic() at this process's start (interpreter start-up and imports included), so a
    user's --timeout bounds what they wait for; the import time of this module where /proc is missing."""
    try:
        with open("/proc/self/stat", encoding="ascii") as fh:
            start_ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime, in clock ticks
        with open("/proc/uptime", encoding="ascii") as fh:
            uptime = float(fh.read().split()[0])
        age = uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _IMPORTED_AT
    return time.monotonic() - max(0.0, age)


_IMPORTED_AT = time.monotonic()


class Status(enum.Enum):
    OK = "ok"
    TIMEOUT = "timeout"  # H1
    MEMORY = "memory"  # H2: MemoryError / bad_alloc in the child
    KILLED = "killed"  # H2: the child died from a signal (OOM killer, a crash in native code)
    ERROR = "error"  # the work raised: a checker bug or an unusual model, reported by the caller


@dataclass
class Outcome:
    status: Status
    value: object = None
    detail: str = ""
    seconds: float = 0.0
    peak_rss_mb: float | None = None  # the child's peak resident memory


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _vm_size_bytes() -> int:
    """This process's current address-space size (Linux); 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cap_address_space(extra_bytes: int) -> None:
    """RLIMIT_AS = what the process maps now + `extra_bytes` (never above an existing hard limit).

    Relative, because a forked child inherits its parent's mappings (torch in an exporter maps GBs)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    target = _vm_size_bytes() + extra_bytes
    if hard != resource.RLIM_INFINITY:
        target = min(target, hard)
    resource.setrlimit(resource.RLIMIT_AS, (target, hard))


def _child(conn, work: Callable, args: tuple, memory_bytes: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which kills us
    try:
        cap_address_space(memory_bytes)
        message = ("ok", work(*args))
    except MemoryError as exc:
        message = ("memory", f"MemoryError: {exc}")
    except BaseException as exc:  # reported by the parent as a finding; a traceback helps nobody here
        message = ("error", f"{type(exc).__name__}: {str(exc)[:400]}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        conn.send((*message, peak))
    except Exception as exc:  # an unpicklable result is a checker bug: say so, never hang the parent
        conn.send(("error", f"result not transferable: {type(exc).__name__}: {exc}", peak))
    conn.close()


def run_bounded(work: Callable, args: tuple, limits: Limits) -> Outcome:
    """work(*args) in a child process under `limits` (the child gets what is left of the verdict's
    wall-clock budget); never raises for what the child does."""
    left = limits.seconds_left()
    if left <= 0:
        return Outcome(Status.TIMEOUT, detail=f"the {limits.timeout_s:g} s budget was spent before the run started")
    ctx = _context()
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, work, args, limits.memory_mb * 2**20), daemon=True)
    started = time.perf_counter()
    proc.start()
    sender.close()  # the child holds the only writer: EOF on the pipe means it died
    try:
        if not receiver.poll(max(0.0, limits.seconds_left())):
            elapsed = time.perf_counter() - started
            return Outcome(Status.TIMEOUT, detail=f"the model ran {elapsed:.1f} s of it", seconds=elapsed)
        status, payload, peak = receiver.recv()
    except (EOFError, OSError):
        proc.join(5)
        return Outcome(Status.KILLED, detail=_death(proc.exitcode), seconds=time.perf_counter() - started)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        receiver.close()
    seconds = time.perf_counter() - started
    if status == "ok":
        return Outcome(Status.OK, value=payload, seconds=seconds, peak_rss_mb=round(peak, 1))
    kind = Status.MEMORY if status == "memory" or is_memory_error(payload) else Status.ERROR
    return Outcome(kind, detail=payload, seconds=seconds, peak_rss_mb=round(peak, 1))


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else str(-exitcode)
        why = " (the kernel's OOM killer sends it)" if -exitcode == signal.SIGKILL else ""
        return f"the child process was killed by {name}{why}"
    return f"the child process exited with code {exitcode} without a result"


def is_memory_error(text: str) -> bool:
    return any(marker.lower() in text.lower() for marker in MEMORY_ERROR_MARKERS)


def feed_bytes(shape: list, itemsize: int) -> int:
    """Bytes a static input of `shape` needs (Python ints: no overflow on 50000 x 50000)."""
    return math.prod(int(d) for d in shape) * itemsize


def preexec_limits(memory_bytes: int) -> Callable[[], None]:
    """For subprocess.Popen(preexec_fn=...): a fresh interpreter gets the same address-space cap."""

    def apply() -> None:
        os.setpgrp()  # its own process group, so a timeout kill reaches anything it started
        # Absolute: after exec the interpreter starts small, whatever the parent had mapped.
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        target = memory_bytes + INTERPRETER_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (target if hard == resource.RLIM_INFINITY else min(target, hard), hard))

    return apply
