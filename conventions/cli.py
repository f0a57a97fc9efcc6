"""The conformance check's command line, shared by `python -m nxport.conventions` and `nxport check`:
PATH... [--format text|json|junit|sarif|github] [--jobs N] [--fail-on must|should|info]

PATH: .onnx files, folders (every *.onnx below them) and globs. Exit code: the worst verdict -
0 every file passes, 1 a finding at or above --fail-on, 2 an unreadable file, a folder or glob with no
.onnx file in it, or a bad --image / config. One file in the default text format prints the full report.
"""

from __future__ import annotations

import argparse
import json
import os

from nxport.conventions.checking.context import PROFILES
from nxport.conventions.targets.preflight.cli import add_target_arguments, run_targets
from nxport.conventions.ci.formats import FailOn, Format


DESCRIPTION = "Check ONNX files against the Nx conventions."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="+", metavar="PATH", help=".onnx files, folders (recursive *.onnx) or globs")
    output = parser.add_argument_group("output")
    output.add_argument("--format", choices=[f.value for f in Format], default=None,
                        help="text (default), json, junit (XML), sarif (2.1.0) or github (workflow commands)")
    output.add_argument("--json", action="store_true", help="one file: its full report as JSON (as --format json)")
    output.add_argument("--output", default=None, metavar="FILE", help="write the report to FILE (atomically)")
    policy = parser.add_argument_group("policy")
    policy.add_argument("--fail-on", choices=[f.value for f in FailOn], default=None,
                        help="lowest level that fails (default: config, else must)")
    policy.add_argument("--ignore", nargs="+", default=[], metavar="RULE", help="rule ids to ignore everywhere")
    policy.add_argument("--config", default=None, help="a .nxport.toml / pyproject.toml (default: found upward)")
    run = parser.add_argument_group("runtime stage")
    run.add_argument("--runtime", action=argparse.BooleanOptionalAction, default=True,
                     help="run the model in onnxruntime on a real photo (default: on)")
    run.add_argument("--image", default=None, help="photo to feed (default: scikit-image's chelsea)")
    run.add_argument("--reference-runtime", action="store_true",
                     help="also run it in onnxruntime 1.17, the Nx reference runtime, and ask sclblonnx "
                     "(./setup.sh installs both)")
    run.add_argument("--timeout", type=float, default=None, metavar="S",
                     help="wall-clock limit for the whole check of a file, start-up included "
                     "(default 60; more -> rule H1)")
    run.add_argument("--memory-limit", type=int, default=None, metavar="MB",
                     help="memory cap per model run (default 4096; more -> rule H2)")
    run.add_argument("--jobs", type=int, default=None, metavar="N",
                     help="files checked in parallel (default: CPU count)")
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="image (Nx vision model) or text (CLIP text tower); default: detect")
    add_target_arguments(parser)


def _next_step(report) -> str:
    if not report.readable:
        return "next: pass a valid .onnx file"
    if report.conformant:
        return "next: upload the artifact to Nx (SHOULD/INFO lines above are advice)"
    return "next: apply each MUST fix above, re-export, and run this check again"


def _limits(args, files: int):
    from nxport.conventions._sandbox import Limits, process_started

    overrides = {k: v for k, v in (("timeout_s", args.timeout), ("memory_mb", args.memory_limit)) if v is not None}
    if files == 1:  # what the user waits for: start-up counts against --timeout too
        overrides["started"] = process_started()
    try:
        return Limits(**overrides)
    except ValueError as exc:
        from nxport.core.errors import ConfigError

        raise ConfigError(str(exc), fix="--timeout and --memory-limit take positive numbers") from exc


def _single(args, limits) -> int:
    """One file, text or --json: the checker's own full report (the format before many files)."""
    from nxport.conventions.checking.checker import check

    report = check(args.model[0], runtime=args.runtime, image=args.image, profile=args.profile,
                   reference=args.reference_runtime, limits=limits)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_text())
        print(_next_step(report))
    return report.exit_code


def _emit(text: str, output: str | None) -> None:
    if output is None:
        print(text)
        return
    from nxport.core.atomic import write_bytes_atomic

    write_bytes_atomic(output, (text + "\n").encode("utf-8"))  # a CI artifact: replaced, never half-written


def _many(args, limits, config, paths: list[str]) -> int:
    from nxport.conventions.checking import batch
    from nxport.conventions.ci import formats as reports

    ignores = config.ignores + ((batch.IgnoreRule(tuple(args.ignore), batch.CLI_REASON),) if args.ignore else ())
    options = batch.BatchOptions(args.runtime, args.reference_runtime, args.image, args.profile, limits, ignores,
                                 tuple(args.target or ()))
    fail_on = args.fail_on or config.fail_on or FailOn.MUST
    results = batch.check_many(paths, options, jobs=args.jobs or os.cpu_count() or 1)
    _emit(reports.render(results, args.format or Format.TEXT, fail_on), args.output)
    return reports.exit_code(results, fail_on)


def run(args: argparse.Namespace) -> int:
    from nxport.conventions.checking.batch import expand_paths, load_config

    # argparse lists plain values (`text, json`) in --help and its errors; the code speaks the enums
    args.format = Format(args.format) if args.format else None
    args.fail_on = FailOn(args.fail_on) if args.fail_on else None
    config = load_config(args.config)
    paths = expand_paths(args.model)  # a folder or glob without a model fails here, in every --format
    limits = _limits(args, len(paths))
    if args.oracle and not args.target:
        from nxport.core.errors import ConfigError

        raise ConfigError("--oracle asks a target's real toolchain, but no --target was given",
                          fix="add --target qnn (the toolchain that installs here: ./setup.sh)")
    one_file_named = len(args.model) == 1 and paths == args.model
    plain = (args.fail_on is None and not args.ignore and args.output is None and not config.ignores
             and config.fail_on is None and one_file_named)
    if plain and (args.format in (None, Format.TEXT) or (args.json and args.format is None)):
        if args.target:  # the NPU preflight instead of the conventions check
            return run_targets(args.model[0], args.target, as_json=args.json, oracle=args.oracle, limits=limits)
        return _single(args, limits)
    if args.oracle:  # a real compiler per file and target: one file, text or --json, for now
        from nxport.core.errors import ConfigError

        raise ConfigError(f"--oracle checks one .onnx file at a time, in the text or --json output; got "
                          f"{len(paths)} file(s)" + (f", --format {args.format.value}" if args.format else "")
                          + (" and a policy option (--fail-on/--ignore/--output/config)" if len(paths) == 1 else ""),
                          fix="run `nxport check FILE --target qnn --oracle` once per file")
    if args.json and args.format is None:
        args.format = Format.JSON
    return _many(args, limits, config, paths)


def main(argv: list[str] | None = None) -> int:
    from nxport.core.guard import guarded_main

    return guarded_main("python -m nxport.conventions", DESCRIPTION, add_arguments, run, argv)
