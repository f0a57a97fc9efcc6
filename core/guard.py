"""The one error guard of every entry point (`nxport ...`, `python -m conventions`, `-m calibration`,
`-m serving`): a typed error becomes one clear stderr line and its exit code, never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from core.errors import NxportError

INTERRUPTED_EXIT = 130


def run_guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """run(args) with typed errors -> `error: Type: message` on stderr + the error's exit code."""
    try:
        return run(args)
    except NxportError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: no partial artifact was left behind", file=sys.stderr)
        return INTERRUPTED_EXIT


def guarded_main(prog: str, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                 run: Callable[[argparse.Namespace], int], argv: list[str] | None = None) -> int:
    """A package's `python -m` entry point: its own add_arguments/run under the shared guard."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_arguments(parser)
    return run_guarded(run, parser.parse_args(argv))
