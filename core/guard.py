"""The one error guard of every entry point (`nxport ...`, `python -m nxport.conventions`, `-m nxport.calibration`,
`-m nxport.serving`): a typed error becomes one clear stderr line and its exit code, never a traceback. The
guard also sets the output verbosity (-q / -v) before any work, so every command is equally quiet."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from nxport.core.console import NORMAL, QUIET, VERBOSE, set_verbosity
from nxport.core.errors import NxportError

INTERRUPTED_EXIT = 130


def add_verbosity_arguments(parser: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    """-v / -q. inherited: a subcommand's copy, which only overrides the top level's when given
    (argparse would otherwise reset `nxport -q check` to the subcommand's default)."""
    default = argparse.SUPPRESS if inherited else NORMAL
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=VERBOSE, default=default,
                       help="also show third-party warnings and onnxruntime's log (for debugging)")
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=QUIET, default=default,
                       help="errors and results only, no progress lines")


def add_verbosity_everywhere(parser: argparse.ArgumentParser) -> None:
    """-v / -q on `parser` and on every (nested) subcommand, so `nxport -q check` and `nxport check -q` agree."""
    add_verbosity_arguments(parser)
    _add_to_subcommands(parser)


def _add_to_subcommands(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                add_verbosity_arguments(sub, inherited=True)
                _add_to_subcommands(sub)


def run_guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """run(args) with typed errors -> `error: Type: message` on stderr + the error's exit code."""
    set_verbosity(getattr(args, "verbosity", NORMAL))  # NORMAL silences third-party warnings too
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
    add_verbosity_arguments(parser)
    return run_guarded(run, parser.parse_args(argv))
