"""`nxport`: one command, thin subcommands over the library functions.

    nxport export classification --model resnet18 --weights resnet18.safetensors --output-dir build/
    nxport check build/resnet18.onnx
    nxport list-models 'resnet*'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nxport.errors import NxportError


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model source")
    group.add_argument("--model", required=True, help="timm model name, e.g. resnet18 or tf_efficientnet_lite0")
    group.add_argument("--weights", type=Path, help="local .pth/.safetensors file or HF-style directory")
    group.add_argument("--pretrained", action="store_true", help="download weights from the hub (needs internet)")
    group.add_argument("--random-init", action="store_true", help="random weights, for structural tests only")


def _add_preprocessing_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("preprocessing (default: the model's own pretrained config)")
    group.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"))
    group.add_argument("--mean", type=float, nargs="+", help="0..1 scale, e.g. 0.485 0.456 0.406")
    group.add_argument("--std", type=float, nargs="+", help="0..1 scale, e.g. 0.229 0.224 0.225")
    group.add_argument("--interpolation", help="recorded in the report; Nx resizes on the device")
    group.add_argument("--crop-pct", type=float, help="recorded in the report; Nx stretches, never crops")


def _add_artifact_options(parser: argparse.ArgumentParser) -> None:
    from exporters.config import DEFAULT_OPSET

    group = parser.add_argument_group("artifact")
    group.add_argument("--output-dir", type=Path, default=Path("build"))
    group.add_argument("--name", help="artifact base name (default: the model name)")
    group.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="11..18 (rule A1)")
    group.add_argument("--overwrite", action="store_true", help="replace an existing artifact")
    group.add_argument("--simplify", action=argparse.BooleanOptionalAction, default=True, help="run onnxsim")
    group.add_argument("--parity-images", type=Path, help="folder of photos for the PyTorch parity check "
                       "(default: real photos shipped with scikit-image)")
    group.add_argument("--parity-atol", type=float, default=1e-4)


def _classifier_config(args):
    from exporters.config import Activation, ClassifierConfig, PreprocessingOverrides

    return ClassifierConfig(
        model=args.model, weights=args.weights, pretrained=args.pretrained, random_init=args.random_init,
        num_classes=args.num_classes, labels=args.labels, replace_char=args.replace_char,
        activation=Activation(args.activation), opset=args.opset,
        preprocessing=PreprocessingOverrides(
            input_size=tuple(args.input_size) if args.input_size else None,
            mean=tuple(args.mean) if args.mean else None, std=tuple(args.std) if args.std else None,
            interpolation=args.interpolation, crop_pct=args.crop_pct,
        ),
        output_dir=args.output_dir, name=args.name, overwrite=args.overwrite,
        parity_images=args.parity_images, parity_atol=args.parity_atol, simplify=args.simplify,
    )


def _add_classification(sub) -> None:
    parser = sub.add_parser("classification", help="classifier with Softmax -> scores-<id>:<name>")
    _add_source_options(parser)
    heads = parser.add_argument_group("classes")
    heads.add_argument("--labels", type=Path, help="one name per line, or a JSON list / id->name object "
                       "(default: ImageNet names for 1k/12k/21k-class models)")
    heads.add_argument("--num-classes", type=int, help="build a head of this size (default: the weights')")
    heads.add_argument("--replace-char", help="replace ';', ':' and line breaks in class names (rule E2)")
    heads.add_argument("--activation", choices=["softmax", "sigmoid"], default="softmax",
                       help="sigmoid for multi-label models")
    _add_preprocessing_options(parser)
    _add_artifact_options(parser)
    parser.set_defaults(run=_run_classification)


def _run_classification(args) -> int:
    from exporters import export_classifier
    from exporters.report import format_summary

    result = export_classifier(_classifier_config(args))
    print(format_summary(result.report, result.onnx_path, result.report_path))
    return 0


def _run_check(args) -> int:
    from conventions.__main__ import main as check_main

    forwarded = [str(args.file)] + (["--json"] if args.json else []) + (["--no-runtime"] if not args.runtime else [])
    if args.image:
        forwarded += ["--image", str(args.image)]
    return check_main(forwarded)


def _run_list_models(args) -> int:
    import timm

    names = timm.list_models(args.pattern or "*", pretrained=False)
    print("\n".join(names) if names else f"no timm model matches {args.pattern!r}")
    return 0 if names else 1


def build_parser() -> argparse.ArgumentParser:
    from nxport import __version__

    parser = argparse.ArgumentParser(prog="nxport", description="Nx-conformant ONNX artifacts from vision models")
    parser.add_argument("--version", action="version", version=f"nxport {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="export a model to an Nx artifact")
    tasks = export.add_subparsers(dest="task", required=True)
    _add_classification(tasks)
    check = commands.add_parser("check", help="check any ONNX file against the Nx conventions")
    check.add_argument("file", type=Path)
    check.add_argument("--json", action="store_true")
    check.add_argument("--image", type=Path, help="photo for the runtime run (default: a real cat photo)")
    check.add_argument("--runtime", action=argparse.BooleanOptionalAction, default=True)
    check.set_defaults(run=_run_check)
    listing = commands.add_parser("list-models", help="timm architectures matching a pattern")
    listing.add_argument("pattern", nargs="?", help="e.g. 'resnet*'")
    listing.set_defaults(run=_run_list_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except NxportError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: no partial artifact was left behind", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
