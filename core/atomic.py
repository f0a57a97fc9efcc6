"""Write artifacts all-or-nothing: a temporary file in the target directory, then a rename.

A process killed outright (SIGKILL, power loss) between creating the temporary and the rename
cannot clean up after itself. So each temporary's name carries its owner's pid and start time
(`.NAME.onnx.<pid>-<start>.<random>.partial`), and every later write into that folder removes the
temporaries whose owner is gone: nothing a dead run left survives the next run.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nxport.core.errors import OutputExistsError, UnwritablePathError


@dataclass(frozen=True)
class ArtifactPaths:
    """`<name>.onnx` and `<name>.report.json` side by side (INT8: name `<model>.int8`)."""

    directory: Path
    name: str

    @property
    def onnx(self) -> Path:
        return self.directory / f"{self.name}.onnx"

    @property
    def report(self) -> Path:
        return self.directory / f"{self.name}.report.json"


PARTIAL_SUFFIX = ".partial"
_OWNED_PARTIAL = re.compile(r"^\..+\.(?P<pid>\d+)-(?P<start>\d+)\.[A-Za-z0-9_]+\.partial$")
_UNOWNED_PARTIAL = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.partial$")  # written before owners were recorded
# Such a temporary names no owner; an hour is far beyond any write window (they last well under a second).
UNOWNED_STALE_AFTER_S = 3600.0


def _start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot (Linux), 0 where /proc is not available.
    With the pid it names one process: a pid reused by a later process has another start time."""
    stat = _proc_stat(pid)
    return int(stat[19]) if stat else 0


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat fields after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _owner_alive(pid: int, start: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        pass
    stat = _proc_stat(pid)
    if stat is None:
        return True  # no /proc: the pid exists, assume it is the owner
    if stat[0] == "Z":  # killed, not yet reaped by its parent
        return False
    return start == 0 or int(stat[19]) == start


def _is_stale(entry: os.DirEntry, now: float) -> bool:
    owned = _OWNED_PARTIAL.match(entry.name)
    if owned:
        return not _owner_alive(int(owned["pid"]), int(owned["start"]))
    if _UNOWNED_PARTIAL.match(entry.name):
        with contextlib.suppress(OSError):
            return now - entry.stat(follow_symlinks=False).st_mtime > UNOWNED_STALE_AFTER_S
    return False


def sweep_stale_partials(directory: str | Path) -> list[Path]:
    """Remove the temporaries in `directory` whose writer died before its rename. -> removed paths."""
    removed, now = [], time.time()
    try:
        entries = [e for e in os.scandir(directory) if e.name.startswith(".") and e.name.endswith(PARTIAL_SUFFIX)]
    except OSError:
        return removed
    for entry in entries:
        if entry.is_file(follow_symlinks=False) and _is_stale(entry, now):
            with contextlib.suppress(OSError):  # best effort: a temporary we may not remove is not ours
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def prepare_output_dir(directory: str | Path) -> Path:
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnwritablePathError(path, exc.strerror or str(exc)) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise UnwritablePathError(path, "permission denied")
    sweep_stale_partials(path)
    return path


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    """Fail before any work when an artifact would be overwritten without permission."""
    if overwrite:
        return
    for path in paths:
        if path.exists():
            raise OutputExistsError(path)


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; move it over `final` only if the block succeeds.

    Same directory so that os.replace is a rename on one filesystem (atomic on POSIX). The name
    records this process, so that a run killed before the rename is swept by the next one.
    """
    final = Path(final)
    sweep_stale_partials(final.parent)
    pid = os.getpid()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.{pid}-{_start_time(pid)}.", suffix=PARTIAL_SUFFIX,
                                        dir=final.parent)
    except OSError as exc:
        raise UnwritablePathError(final.parent, exc.strerror or str(exc)) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(final: str | Path, data: bytes) -> Path:
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)
