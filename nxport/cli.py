"""`nxport`: one command, thin subcommands over the library functions.

    nxport export classification --model resnet18 --weights resnet18.safetensors --output-dir build/
    nxport check build/resnet18.onnx
    nxport export embedding --model tf_efficientnet_lite0 --weights lite0.pth --pool gem
    nxport export preconfigured facebook/dinov2-small --weights dinov2-small/
    nxport list-models 'facebook/*'          nxport show-model facebook/dinov2-small
    nxport rules 'D*'                        (every rule id: level, title, source, producer)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nxport.core.extras import require
from nxport.core.guard import add_verbosity_everywhere, run_guarded
from nxport.exporters.npu_target import add_target_option


def _add_source_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model source")
    group.add_argument("--model", required=True, help="timm model name, e.g. resnet18 or tf_efficientnet_lite0")
    group.add_argument("--weights", type=Path, help="local .pth/.safetensors file or HF-style directory")
    group.add_argument("--pretrained", action="store_true", help="download weights from the hub (needs internet)")
    group.add_argument("--random-init", action="store_true", help="random weights, for structural tests only")
    group.add_argument("--ema", action="store_true", help="a training checkpoint's EMA weights (state_dict_ema) "
                       "instead of its plain ones (state_dict)")
    group.add_argument("--reparam", action=argparse.BooleanOptionalAction, default=True,
                       help="fold MobileOne/RepVGG/FastViT training branches before export (timm's "
                       "reparameterize_model, parity-checked); --no-reparam keeps them")


def _add_preprocessing_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("preprocessing (default: the model's own pretrained config)")
    group.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"))
    group.add_argument("--mean", type=float, nargs="+", help="0..1 scale, e.g. 0.485 0.456 0.406")
    group.add_argument("--std", type=float, nargs="+", help="0..1 scale, e.g. 0.229 0.224 0.225")
    group.add_argument("--interpolation", help="recorded in the report; Nx resizes on the device")
    group.add_argument("--crop-pct", type=float, help="recorded in the report; Nx stretches, never crops")


def _add_artifact_options(parser: argparse.ArgumentParser) -> None:
    from nxport.exporters.config import DEFAULT_OPSET

    group = parser.add_argument_group("artifact")
    group.add_argument("--output-dir", type=Path, default=Path("build"))
    group.add_argument("--name", help="artifact base name (default: the model name)")
    group.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="11..18 (rule A1)")
    group.add_argument("--overwrite", action="store_true", help="replace an existing artifact")
    group.add_argument("--simplify", action=argparse.BooleanOptionalAction, default=True, help="run onnxsim")
    group.add_argument("--parity-images", type=Path, help="folder of photos for the PyTorch parity check "
                       "(default: real photos shipped with scikit-image)")
    group.add_argument("--parity-atol", type=float, default=1e-4)


def _importing():
    """torch and the model libraries take 5 s to import on an idle machine, 15 s on a busy one."""
    from nxport.core.console import stage

    return stage("importing torch and the model libraries")


def _classifier_config(args):
    from nxport.exporters.config import Activation, ClassifierConfig

    return ClassifierConfig(
        model=args.model, weights=args.weights, pretrained=args.pretrained, random_init=args.random_init,
        num_classes=args.num_classes, labels=args.labels, replace_char=args.replace_char,
        activation=Activation(args.activation), opset=args.opset,
        preprocessing=_preprocessing_overrides(args),
        output_dir=args.output_dir, name=args.name, overwrite=args.overwrite,
        parity_images=args.parity_images, parity_atol=args.parity_atol, simplify=args.simplify,
        reparameterize=args.reparam, ema=args.ema, targets=tuple(getattr(args, "target", None) or ()),
        alarm=args.alarm,
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
    heads.add_argument("--alarm", type=float, metavar="THRESHOLD",
                       help="also output `alarm-<id>:<name>;...` = (scores > THRESHOLD) as 0/1 flags (rule D4)")
    _add_preprocessing_options(parser)
    _add_artifact_options(parser)
    add_target_option(parser)
    parser.set_defaults(run=_run_classification)


def _run_classification(args) -> int:
    from nxport.exporters.early_checks import check_timm_inputs

    config = _classifier_config(args)
    check_timm_inputs(config.model, config.weights, config.pretrained, config.random_init)  # before torch
    with _importing():
        from nxport.exporters import export_classifier
        import nxport.exporters.classification  # noqa: F401  (torch + timm: the slow part of startup)

    return _print_result(export_classifier(config))


def _add_embedding(sub) -> None:
    from nxport.exporters.config import Pool
    from nxport.exporters.templates import TEMPLATES

    parser = sub.add_parser("embedding", help="backbone + pooling + L2 -> embedding-dim:D;norm:l2;pool:NAME")
    _add_source_options(parser)
    parser.add_argument("--source", choices=["auto", "timm", "hf", "isc21"], default="auto",
                        help="auto: HF-style --weights directory or an 'org/name' id -> hf, a timm name -> timm")
    head = parser.add_argument_group("embedding head")
    head.add_argument("--pool", choices=[p.value for p in Pool], help="default: the model family's own choice")
    head.add_argument("--gem-p", type=float, default=3.0, help="GeM exponent (pool gem, isc21)")
    head.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=True,
                      help="L2-normalize inside the graph (--no-normalize for raw vectors)")
    head.add_argument("--projection-dim", type=int, default=256, help="isc21: descriptor dimension")
    head.add_argument("--template", choices=sorted(TEMPLATES), help="HF: force a preprocessing template")
    _add_preprocessing_options(parser)
    _add_artifact_options(parser)
    add_target_option(parser)
    parser.set_defaults(run=_run_embedding)


def _preprocessing_overrides(args):
    from nxport.exporters.config import PreprocessingOverrides

    return PreprocessingOverrides(
        input_size=tuple(args.input_size) if args.input_size else None,
        mean=tuple(args.mean) if args.mean else None, std=tuple(args.std) if args.std else None,
        interpolation=args.interpolation, crop_pct=args.crop_pct,
    )


def _run_embedding(args) -> int:
    from nxport.exporters.early_checks import check_embedding_inputs

    check_embedding_inputs(args.model, args.source, args.weights, args.pretrained, args.random_init)  # before torch
    with _importing():
        from nxport.exporters.embedding import EmbeddingConfig, export_embedding

    config = EmbeddingConfig(
        model=args.model, source=args.source, weights=args.weights, pretrained=args.pretrained,
        random_init=args.random_init, pool=args.pool, normalize=args.normalize, gem_p=args.gem_p,
        projection_dim=args.projection_dim, template=args.template, opset=args.opset,
        preprocessing=_preprocessing_overrides(args), output_dir=args.output_dir, name=args.name,
        overwrite=args.overwrite, parity_images=args.parity_images, simplify=args.simplify,
        reparameterize=args.reparam, ema=args.ema, targets=tuple(args.target or ()),
    )
    return _print_result(export_embedding(config))


def _add_preconfigured(sub) -> None:
    from nxport.exporters.config import Pool

    parser = sub.add_parser("preconfigured", help="a model from the registry (see `nxport list-models`)")
    parser.add_argument("model", help="registry name, e.g. facebook/dinov2-small")
    parser.add_argument("--weights", type=Path, help="local weights (default: shipped offline weights, if any)")
    parser.add_argument("--pretrained", action="store_true", help="download weights from the hub")
    parser.add_argument("--random-init", action="store_true", help="random weights, for structural tests only")
    parser.add_argument("--labels", type=Path, help="classification: class names file")
    parser.add_argument("--pool", choices=[p.value for p in Pool])
    parser.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None)
    _add_preprocessing_options(parser)
    _add_artifact_options(parser)
    add_target_option(parser)
    parser.set_defaults(run=_run_preconfigured, opset=None)


def _run_preconfigured(args) -> int:
    from nxport.exporters.preconfigured import PresetOverrides, check_preset_inputs, export_preconfigured

    overrides = PresetOverrides(
        weights=args.weights, pretrained=args.pretrained, random_init=args.random_init,
        output_dir=args.output_dir, name=args.name, overwrite=args.overwrite, opset=args.opset,
        pool=args.pool, normalize=args.normalize, labels=args.labels,
        preprocessing=_preprocessing_overrides(args), parity_images=args.parity_images,
        targets=tuple(args.target or ()),
    )
    check_preset_inputs(args.model, overrides)  # a typo costs what --help costs
    with _importing():
        import nxport.exporters.embedding  # noqa: F401  (torch + timm: the slow part of startup)
    return _print_result(export_preconfigured(args.model, overrides))


def _print_result(result) -> int:
    from nxport.exporters.report import format_summary

    print(format_summary(result.report, result.onnx_path, result.report_path))
    return 0


def _add_clip(sub) -> None:
    parser = sub.add_parser("clip", help="CLIP -> <name>_img.onnx + <name>_txt.onnx (+ _zeroshot.onnx)")
    group = parser.add_argument_group("model source")
    group.add_argument("--model", required=True, help="HF id (e.g. openai/clip-vit-base-patch32), or an open_clip "
                       "config name (ViT-B-32) / JSON config file")
    group.add_argument("--source", choices=["auto", "hf", "open_clip"], default="auto")
    group.add_argument("--weights", type=Path, help="HF directory (save_pretrained) or open_clip checkpoint file")
    group.add_argument("--pretrained", action="store_true", help="HF: download from the hub (needs internet)")
    group.add_argument("--random-init", action="store_true", help="random weights, for structural tests only")
    zero = parser.add_argument_group("zero-shot classifier")
    zero.add_argument("--zero-shot", help='class names "cat,dog,car" or a labels file; writes <name>_zeroshot.onnx')
    zero.add_argument("--prompt-template", action="append", dest="templates",
                      help='repeatable, must contain {} (default: "a photo of a {}.")')
    zero.add_argument("--replace-char", help="replace ';', ':' and line breaks in class names (rule E2)")
    _add_preprocessing_options(parser)
    _add_artifact_options(parser)
    add_target_option(parser)
    parser.set_defaults(run=_run_clip)


def _run_clip(args) -> int:
    from nxport.exporters.early_checks import check_weights_choice

    check_weights_choice(args.model, args.weights, args.pretrained, args.random_init)  # before torch
    with _importing():
        from nxport.exporters.clip import DEFAULT_TEMPLATES, ClipConfig, export_clip

    zero_shot = None
    if args.zero_shot:
        zero_shot = Path(args.zero_shot) if Path(args.zero_shot).is_file() else args.zero_shot.split(",")
    config = ClipConfig(
        model=args.model, source=args.source, weights=args.weights, pretrained=args.pretrained,
        random_init=args.random_init, zero_shot=zero_shot, templates=tuple(args.templates or DEFAULT_TEMPLATES),
        replace_char=args.replace_char, opset=args.opset, preprocessing=_preprocessing_overrides(args),
        output_dir=args.output_dir, name=args.name, overwrite=args.overwrite, parity_images=args.parity_images,
        targets=tuple(args.target or ()),
    )
    print(export_clip(config).summary())
    return 0


def _compose(parser: argparse.ArgumentParser, package_cli: str) -> None:
    """A subcommand is a package's own CLI: its add_arguments and run, so flags cannot drift."""
    import importlib

    module = importlib.import_module(package_cli)
    module.add_arguments(parser)
    parser.set_defaults(run=module.run)


def _add_detection(sub) -> None:
    from nxport.exporters.detection_cli import add_arguments, run

    from nxport.conventions.kinds.bboxes import BBOXES

    parser = sub.add_parser("detection", help=f"YOLO ONNX / RetinaFace / YOLOS+DETR + decode/NMS tail -> {BBOXES.grammar}")
    add_arguments(parser)
    parser.set_defaults(run=run)


def _run_list_models(args) -> int:
    if args.timm:
        require("export", "timm")
        import timm

        names = timm.list_models(args.pattern or "*")
        print("\n".join(names) if names else f"no timm architecture matches {args.pattern!r}")
        return 0 if names else 1
    if args.templates:
        from nxport.exporters.templates import TEMPLATES

        for template in TEMPLATES.values():
            print(f"{template.name:10} {', '.join(template.processor_classes):28} {template.families}")
        return 0
    from nxport.exporters.preconfigured import get_model_spec, list_models

    names = list_models(args.pattern or "*", task=args.task)
    for name in names:
        spec = get_model_spec(name)
        print(f"{name:36} {spec.task:15} {spec.source:6} {spec.notes}")
    if not names:
        print(f"no preconfigured model matches {args.pattern!r}; try --timm for any timm architecture")
    return 0 if names else 1


def _run_rules(args) -> int:
    import json

    from nxport.conventions.checking.rulebook import catalog

    entries = catalog(args.pattern or "*")
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
    else:
        print("\n".join(e.format() for e in entries) if entries else
              f"no rule id matches {args.pattern!r}; ids look like A1, D*, T-rknn-op, 'T-*-op'")
    return 0 if entries else 1


def _run_show_model(args) -> int:
    import json

    from nxport.exporters.preconfigured import get_model_spec

    print(json.dumps(get_model_spec(args.model).to_dict(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from nxport.core import __version__

    parser = argparse.ArgumentParser(prog="nxport", description="Nx-conformant ONNX artifacts from vision models")
    parser.add_argument("--version", action="version", version=f"nxport {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="export a model to an Nx artifact")
    export.set_defaults(extra="export")  # every task: torch and the model libraries (core/extras.py)
    tasks = export.add_subparsers(dest="task", required=True)
    _add_classification(tasks)
    _add_embedding(tasks)
    _add_preconfigured(tasks)
    _add_clip(tasks)
    _add_detection(tasks)
    _compose(commands.add_parser("check", help="check any ONNX file against the Nx conventions"), "nxport.conventions.cli")
    _compose(commands.add_parser("calibrate", help="INT8 (QDQ) calibration of an artifact, with its accuracy cost"),
             "nxport.calibration.cli")
    _compose(commands.add_parser("serve", help="serve artifacts over HTTP (/embed, /classify, /info, /health)"),
             "nxport.serving.cli")
    listing = commands.add_parser("list-models", help="preconfigured models (or --timm architectures)")
    listing.add_argument("pattern", nargs="?", help="shell-style, e.g. 'facebook/*' or 'resnet*'")
    listing.add_argument("--task", choices=["classification", "embedding"])
    listing.add_argument("--timm", action="store_true", help="list timm architectures instead")
    listing.add_argument("--templates", action="store_true", help="list the HF preprocessing templates")
    listing.set_defaults(run=_run_list_models)
    rules = commands.add_parser("rules", help="every rule id (A-H, T-<target>-*) with level, title, source and producer")
    rules.add_argument("pattern", nargs="?", help="shell-style, e.g. 'D*', 'H?' or 'T-rknn-*'")
    rules.add_argument("--json", action="store_true", help="one JSON list")
    rules.set_defaults(run=_run_rules)
    show = commands.add_parser("show-model", help="one preconfigured model's full spec as JSON")
    show.add_argument("model")
    show.set_defaults(run=_run_show_model)
    add_verbosity_everywhere(parser)
    return parser


def _run_with_extra(args) -> int:
    """A command that needs an extra says so first: before its early checks import anything from it."""
    if getattr(args, "extra", None):
        require(args.extra)
    return args.run(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(_run_with_extra, args)


if __name__ == "__main__":
    sys.exit(main())
