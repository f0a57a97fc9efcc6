"""Write artifacts all-or-nothing: a temporary file in the target directory, then a rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import OutputExistsError, UnwritablePathError


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


def prepare_output_dir(directory: str | Path) -> Path:
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UnwritablePathError(path, exc.strerror or str(exc)) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise UnwritablePathError(path, "permission denied")
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

    Same directory so that os.replace is a rename on one filesystem (atomic on POSIX).
    """
    final = Path(final)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
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
