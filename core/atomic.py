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
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
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
        # Directories too: a multi-file artifact stages its folders (a CLIP tokenizer) the same way.
        if not entry.is_symlink() and _is_stale(entry, now):
            with contextlib.suppress(OSError):  # best effort: a temporary we may not remove is not ours
                _remove(Path(entry.path))
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


def temporary_sibling(final: Path, directory: bool = False) -> Path:
    """A new empty file (or folder) beside `final`, named for this process so that a later run
    sweeps it if this one dies (`.NAME.<pid>-<start>.<random>.partial`)."""
    pid = os.getpid()
    prefix = f".{final.name}.{pid}-{_start_time(pid)}."
    try:
        if directory:
            return Path(tempfile.mkdtemp(prefix=prefix, suffix=PARTIAL_SUFFIX, dir=final.parent))
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=PARTIAL_SUFFIX, dir=final.parent)
    except OSError as exc:
        raise UnwritablePathError(final.parent, exc.strerror or str(exc)) from exc
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path; move it over `final` only if the block succeeds.

    Same directory so that os.replace is a rename on one filesystem (atomic on POSIX). The name
    records this process, so that a run killed before the rename is swept by the next one.
    """
    final = Path(final)
    sweep_stale_partials(final.parent)
    tmp = temporary_sibling(final)
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


@dataclass(frozen=True)
class PendingFile:
    """One file (or folder) of a multi-file artifact: where it goes and how to write its content."""

    path: Path
    write: Callable[[Path], None]  # writes the content at the temporary path it is given
    directory: bool = False


@dataclass
class _Staged:
    final: Path
    temporary: Path
    backup: Path | None = None  # the file an --overwrite replaces, kept until every rename succeeded
    placed: bool = False


def write_together(files: list[PendingFile]) -> None:
    """All files appear, or none: each is written to a temporary sibling, then all are renamed into
    place. A failure at any point (Ctrl-C included) removes the temporaries, takes back the renames
    already made and restores the files being overwritten."""
    staged: list[_Staged] = []
    try:
        for pending in files:
            sweep_stale_partials(pending.path.parent)
            staged.append(_Staged(pending.path, temporary_sibling(pending.path, pending.directory)))
            pending.write(staged[-1].temporary)
            _publish_mode(staged[-1].temporary)
        for item in staged:
            _place(item)
    except BaseException:
        for item in reversed(staged):
            _take_back(item)
        raise
    for item in staged:
        if item.backup is not None:
            _remove(item.backup)


def _publish_mode(path: Path) -> None:
    """Temporaries are created private (0600 / 0700); the artifact is as readable as atomic_path's."""
    os.chmod(path, 0o755 if path.is_dir() else 0o644)
    if path.is_dir():
        for inner in path.rglob("*"):
            os.chmod(inner, 0o755 if inner.is_dir() else 0o644)


def _place(item: _Staged) -> None:
    if item.final.exists() or item.final.is_symlink():
        item.backup = temporary_sibling(item.final)
        if item.final.is_dir() and not item.final.is_symlink():
            item.backup.unlink()  # a folder cannot be renamed over: move the old one aside first
            os.rename(item.final, item.backup)
        elif not _link(item.final, item.backup):
            os.replace(item.final, item.backup)
    os.replace(item.temporary, item.final)
    item.placed = True


def _link(final: Path, backup: Path) -> bool:
    """A second name for the old file, so that the rename over it stays atomic: no moment without it."""
    try:
        backup.unlink()
        os.link(final, backup)
        return True
    except OSError:
        return False


def _take_back(item: _Staged) -> None:
    """Undo one file's part: the new content goes, the old (if any) comes back."""
    with contextlib.suppress(OSError):
        if item.placed:
            _remove(item.final)
    with contextlib.suppress(OSError):
        _remove(item.temporary)
    if item.backup is None or not (item.backup.exists() or item.backup.is_symlink()):
        return
    with contextlib.suppress(OSError):
        if item.final.exists() or item.final.is_symlink():  # a hard-linked copy of a file never replaced
            _remove(item.backup)
        else:
            os.replace(item.backup, item.final)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()
