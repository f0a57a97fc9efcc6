"""The conformance check's command line, shared by `python -m conventions` and `nxport check`.

Exit code: 0 conformant, 1 a MUST rule failed, 2 unreadable file (or a bad --image).
"""

from __future__ import annotations

import argparse
import json

from conventions.context import PROFILES

DESCRIPTION = "Check an ONNX file against the Nx conventions."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="path to the .onnx file")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print the full report as JSON")
    run = parser.add_argument_group("runtime stage")
    run.add_argument("--runtime", action=argparse.BooleanOptionalAction, default=True,
                     help="run the model in onnxruntime on a real photo (default: on)")
    run.add_argument("--image", default=None, help="photo to feed (default: scikit-image's chelsea)")
    run.add_argument("--reference-runtime", action="store_true",
                     help="also run it in onnxruntime 1.17, the Nx reference runtime (./setup.sh installs it)")
    parser.add_argument("--profile", choices=PROFILES, default=None,
                        help="image (Nx vision model) or text (CLIP text tower); default: detect")


def _next_step(report) -> str:
    if not report.readable:
        return "next: pass a valid .onnx file"
    if report.conformant:
        return "next: upload the artifact to Nx (SHOULD/INFO lines above are advice)"
    return "next: apply each MUST fix above, re-export, and run this check again"


def run(args: argparse.Namespace) -> int:
    from conventions.checker import check

    report = check(args.model, runtime=args.runtime, image=args.image, profile=args.profile,
                   reference=args.reference_runtime)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_text())
        print(_next_step(report))
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    from core.guard import guarded_main

    return guarded_main("python -m conventions", DESCRIPTION, add_arguments, run, argv)
