"""One quiet, consistent terminal output for every command.

Results go to stdout; progress and advice go to stderr, one line each, prefixed `nxport:`. The third-party
libraries we drive (torch.onnx, transformers, onnxsim, open_clip, onnxruntime's C++ logger and its
quantizer) each have their own warning channel; `quiet_third_party()` closes all of them at once, so a
user sees only what nxport decided to tell them. `-v` opens them again for debugging, `-q` keeps only
errors and results.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator

QUIET, NORMAL, VERBOSE = 0, 1, 2
_VERBOSITY_ENV = "NXPORT_VERBOSITY"  # inherited by sandboxed children, so they stay as quiet as the parent

# A stage shorter than this prints nothing: progress exists for the waits a user would wonder about.
PROGRESS_AFTER_SECONDS = 2.0


def verbosity() -> int:
    try:
        return int(os.environ.get(_VERBOSITY_ENV, NORMAL))
    except ValueError:
        return NORMAL


def set_verbosity(level: int) -> None:
    """QUIET (-q), NORMAL or VERBOSE (-v); third-party chatter is silenced below VERBOSE."""
    os.environ[_VERBOSITY_ENV] = str(max(QUIET, min(VERBOSE, level)))
    if level < VERBOSE:
        quiet_third_party()


def info(message: str) -> None:
    """A progress or advice line on stderr (not shown with -q)."""
    if verbosity() >= NORMAL:
        print(f"nxport: {message}", file=sys.stderr, flush=True)


def debug(message: str) -> None:
    if verbosity() >= VERBOSE:
        print(f"nxport: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Announce a stage that may take a while; its end line carries the time it took.

    The start line is printed at once (a user staring at a silent terminal for 30 s cannot tell a slow
    stage from a hang); the end line only when the stage took long enough to be worth a number."""
    info(f"{name} ...")
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    if elapsed >= PROGRESS_AFTER_SECONDS:
        info(f"{name} done in {elapsed:.1f} s")


_LOGGERS_TO_QUIET = ("transformers", "onnxsim", "open_clip", "timm", "torch", "torch.onnx", "root",
                     "onnxruntime", "huggingface_hub", "urllib3", "PIL", "matplotlib", "httpx")


def quiet_third_party() -> None:
    """Silence warnings and log lines of the libraries nxport drives; safe to call many times, and
    before or after those libraries are imported (each is configured only if already loaded, and the
    environment variables cover the ones imported later)."""
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in _LOGGERS_TO_QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)  # ORT's quantizer logs through the root logger
    if "onnxruntime" in sys.modules:
        quiet_onnxruntime()
    if "transformers" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["transformers"].logging.set_verbosity_error()


def quiet_onnxruntime() -> None:
    """onnxruntime's C++ logger writes coloured `[E:onnxruntime:...]` lines straight to stderr; the
    failure they describe already reaches the user as a typed error or a finding."""
    import onnxruntime as ort

    ort.set_default_logger_severity(onnxruntime_log_severity())


def onnxruntime_log_severity() -> int:
    """For SessionOptions.log_severity_level: 4 (fatal only) unless -v, then 2 (warnings)."""
    return 4 if verbosity() < VERBOSE else 2
