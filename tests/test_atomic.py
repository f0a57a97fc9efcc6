"""All-or-nothing writes (issue 21 item 18): a run killed with SIGKILL inside the write window leaves a
temporary that the next run removes; a live writer's temporary is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nxport.core.atomic import prepare_output_dir, sweep_stale_partials, write_bytes_atomic

# Writes 2 MiB through the real write_bytes_atomic; the rename blocks, so the process sits inside the
# write window (temporary complete, not yet renamed) until the test kills it.
_WRITER = textwrap.dedent("""
    import os, sys, time
    import nxport.core.atomic as atomic
    def blocked_replace(src, dst):
        print("in-window", src, flush=True)
        time.sleep(600)
    atomic.os.replace = blocked_replace
    atomic.write_bytes_atomic(sys.argv[1], b"x" * (2 << 20))
""")


def _partials(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.partial"))


def _killed_inside_the_write_window(final: Path) -> Path:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(final)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("in-window"), line
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(30)
    temporary = Path(line.split(" ", 1)[1].strip())
    assert temporary.stat().st_size == 2 << 20 and not final.exists()
    assert temporary.parent == final.parent and f".{proc.pid}-" in temporary.name  # the owner is on record
    return temporary


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_sigkill_inside_the_write_window_leaves_nothing_after_the_next_run(tmp_path):
    _killed_inside_the_write_window(tmp_path / "model.onnx")
    # The next run, in another process, writing another file into the same folder.
    subprocess.run([sys.executable, "-c", "import sys; from nxport.core.atomic import write_bytes_atomic; "
                    "write_bytes_atomic(sys.argv[1], b'ok')", str(tmp_path / "other.json")], check=True, timeout=60)
    assert _partials(tmp_path) == [] and (tmp_path / "other.json").read_bytes() == b"ok"


def test_output_dir_preparation_sweeps_and_live_writers_are_left_alone(tmp_path):
    dead = _killed_inside_the_write_window(tmp_path / "a.onnx")
    # This process is alive: a temporary it is still writing is not stale.
    live = tmp_path / f".b.onnx.{os.getpid()}-{_own_start()}.abcd1234.partial"
    live.write_bytes(b"in progress")
    unowned_old = tmp_path / ".c.onnx.k2j4h5g6.partial"  # written before owners were recorded
    unowned_old.write_bytes(b"")
    os.utime(unowned_old, (0, 0))
    unrelated = tmp_path / ".notes.partial"
    unrelated.write_bytes(b"keep")
    prepare_output_dir(tmp_path)
    assert not dead.exists() and not unowned_old.exists()
    assert live.exists() and unrelated.exists()
    # A pid that was reused by another process does not keep a dead run's temporary alive.
    reused = tmp_path / f".d.onnx.{os.getpid()}-1.abcd1234.partial"
    reused.write_bytes(b"")
    if Path("/proc/self/stat").exists():
        assert reused in sweep_stale_partials(tmp_path)
    write_bytes_atomic(tmp_path / "b.onnx", b"done")
    assert live.exists() and (tmp_path / "b.onnx").read_bytes() == b"done"


def _own_start() -> int:
    from nxport.core.atomic import _start_time

    return _start_time(os.getpid())
