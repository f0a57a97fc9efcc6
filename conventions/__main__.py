"""python -m conventions FILE.onnx [--json] [--image PATH] [--no-runtime] [--profile image|text] [--target NAME ...]

Exit code: 0 conformant, 1 a MUST rule failed, 2 unreadable file (or a bad --image).
With --target (NPU preflight instead of the conventions check): 0 every target compiles, 1 at least
one target will not compile, 2 unreadable file or unknown target.
"""

from __future__ import annotations

import argparse
import json
import sys

from conventions.context import PROFILES
from conventions.preflight.cli import add_target_arguments, run_targets


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m conventions",
                                     description="Check an ONNX file against the Nx conventions.")
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
    add_target_arguments(parser)
    return parser


def _next_step(report) -> str:
    if not report.readable:
        return "next: pass a valid .onnx file"
    if report.conformant:
        return "next: upload the artifact to Nx (SHOULD/INFO lines above are advice)"
    return "next: apply each MUST fix above, re-export, and run this check again"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.target:
        return run_targets(args.model, args.target, as_json=args.json)
    from conventions.checker import check
    from nxport.errors import NxportError

    try:
        report = check(args.model, runtime=args.runtime, image=args.image, profile=args.profile,
                       reference=args.reference_runtime)
    except NxportError as exc:  # e.g. an --image that does not decode: the user's input, exit 2
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format_text())
        print(_next_step(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
