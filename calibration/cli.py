"""`python -m nxport.calibration` / `nxport calibrate`: a thin CLI over calibration.calibrate().

Exit codes: 0 done (and --min-agreement met, if one was asked for), 1 --min-agreement missed (nothing
written unless --keep-on-miss) or a check failed, 2 bad input (missing model, not an Nx artifact, empty/undecodable
image folder or one too small for its use, nothing to quantize, existing output).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nxport.calibration.augment import Augmentation
from nxport.calibration.metrics import MARGIN_BANDS
from nxport.calibration.recipes import DEFAULT, NAIVE, CalibrationMethodName, QuantTypeName, WeightRounding
from nxport.calibration.storage import WeightStorage

RECIPES = {"default": DEFAULT, "naive": NAIVE, "auto": "auto"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="FP32 artifact written by `nxport export` (.onnx)")
    data = parser.add_argument_group("images")
    data.add_argument("--images", type=Path, required=True, help="calibration photos (jpg/png/webp, recursive)")
    data.add_argument("--eval-images", type=Path, help="separate photos for the FP32-vs-INT8 report")
    data.add_argument("--max-images", type=int, help="seeded sample of at most this many calibration files")
    data.add_argument("--max-eval-images", type=int)
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--augment", type=int, default=0, metavar="N",
                      help="add N random crop/flip/scale variants per calibration photo")
    quant = parser.add_argument_group("quantization (options override the chosen recipe)")
    quant.add_argument("--recipe", choices=sorted(RECIPES), default="auto",
                       help="auto: the default recipe, then layers kept float only if --min-agreement is missed "
                       "(default); "
                       "default: every Conv/Gemm/MatMul 8-bit, nothing searched; naive: MinMax s8s8, nothing float")
    quant.add_argument("--method", choices=[m.value for m in CalibrationMethodName])
    quant.add_argument("--per-channel", action=argparse.BooleanOptionalAction, default=None)
    quant.add_argument("--symmetric-activations", action=argparse.BooleanOptionalAction, default=None)
    quant.add_argument("--activation-type", choices=[t.value for t in QuantTypeName])
    quant.add_argument("--weight-type", choices=[t.value for t in QuantTypeName])
    quant.add_argument("--weight-storage", choices=[w.value for w in WeightStorage],
                       help="how the symmetric 8-bit weight grid is stored: uint8-zp128 (default; exact on x86 "
                       "without VNNI and in onnxruntime 1.17) or int8 (zero point 0, for NPU compilers that want it)")
    quant.add_argument("--reduce-range", action=argparse.BooleanOptionalAction, default=None,
                       help="7-bit weights (explicit choice only: doubles weight noise)")
    quant.add_argument("--weight-rounding", choices=[r.value for r in WeightRounding],
                       help="nearest: each weight to its nearest grid point; gptq: refit each layer on the INT8 "
                       "model's own inputs and round with the layer's Hessian (slower: one pass per layer)")
    quant.add_argument("--bias-correction", action=argparse.BooleanOptionalAction, default=None,
                       help="per-channel bias correction on the calibration images (default on)")
    quant.add_argument("--percentile", type=float)
    quant.add_argument("--histogram-bins", type=int)
    quant.add_argument("--keep-float", nargs="+", default=None, metavar="NODE", help="node names to keep in float")
    goal = parser.add_argument_group("accuracy goal")
    goal.add_argument("--min-agreement", type=float, help="required top-1 agreement (classifiers) or mean cosine "
                      "(embeddings) on the evaluation images; default 0.99 with --recipe auto")
    goal.add_argument("--agreement-margin", type=float, choices=MARGIN_BANDS, default=0.1,
                      help="classifiers: --min-agreement applies to the images whose FP32 top-1 margin is at least "
                      "this (default 0.1; 0 = all images, near-ties included)")
    npu = parser.add_argument_group("NPU")
    npu.add_argument("--target", action="append", metavar="NAME",
                     help="NPU profile (rknn, tidl, qnn, ryzen-ai, intel-npu, hailo8, all; repeatable), as in "
                     "`nxport export`: the INT8 model's opset window and preflight verdicts in the report")
    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", type=Path, default=Path("build"))
    out.add_argument("--name", help="base name (default: the FP32 file's stem) -> NAME.int8.onnx")
    out.add_argument("--overwrite", action="store_true")
    out.add_argument("--keep-on-miss", action="store_true",
                     help="write the INT8 model and report even when --min-agreement is missed (default: write "
                     "nothing)")
    out.add_argument("--compare-naive", action=argparse.BooleanOptionalAction, default=True,
                     help="also measure the naive recipe in the same run, for the report")
    out.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)


def _recipe(args):
    base = RECIPES[args.recipe]
    overrides = {k: v for k, v in {
        "method": CalibrationMethodName(args.method) if args.method else None, "per_channel": args.per_channel,
        "symmetric_activations": args.symmetric_activations,
        "activation_type": QuantTypeName(args.activation_type) if args.activation_type else None,
        "weight_type": QuantTypeName(args.weight_type) if args.weight_type else None,
        "percentile": args.percentile, "histogram_bins": args.histogram_bins,
        "weight_storage": WeightStorage(args.weight_storage) if args.weight_storage else None,
        "reduce_range": args.reduce_range, "bias_correction": args.bias_correction,
        "weight_rounding": WeightRounding(args.weight_rounding) if args.weight_rounding else None,
        "excluded_nodes": tuple(args.keep_float) if args.keep_float else None}.items() if v is not None}
    if not overrides:
        return base
    from dataclasses import replace

    return replace(DEFAULT if base == "auto" else base, **overrides, name="custom")


# Options that choose or tune a recipe: they apply to kinds whose metric can score candidates, not to a
# detector's fixed recipe (calibration.recipes.DETECTOR). Option -> its default (given = differs from it).
RECIPE_OPTIONS = {"recipe": "auto", "augment": 0, "method": None, "per_channel": None,
                  "symmetric_activations": None, "activation_type": None, "weight_type": None, "percentile": None,
                  "histogram_bins": None, "keep_float": None, "min_agreement": None, "weight_storage": None,
                  "reduce_range": None, "bias_correction": None, "weight_rounding": None}


def _refuse_recipe_options_for_fixed_recipes(args) -> None:
    """One table says which options a kind takes; a detector's refusal names every option given."""
    from nxport.calibration.agreement import METRICS
    from nxport.conventions.contract import read_contract
    from nxport.core.errors import ConfigError, NxportError

    given = [f"--{o.replace('_', '-')}" for o, default in RECIPE_OPTIONS.items() if getattr(args, o, default) != default]
    if not given or not args.model.is_file():
        return
    try:
        kind = read_contract(args.model).kind
    except NxportError:  # unreadable: calibrate() refuses it with its own rule ids
        return
    if kind in METRICS and not METRICS[kind].searchable:
        raise ConfigError(f"{', '.join(given)} do not apply to a {kind.value} artifact: its network is quantized with "
                          "one fixed recipe (MinMax, int8 per-channel weights, uint8 activations) and judged box for "
                          "box", fix=f"drop {', '.join(given)} for {kind.value} artifacts")


def run(args) -> int:
    from nxport.core.extras import require

    require("calibrate")  # the light install has no progress bar library: say so before any work

    from nxport.calibration.api import calibrate

    _refuse_recipe_options_for_fixed_recipes(args)
    result = calibrate(args.model, args.images, eval_images=args.eval_images, output_dir=args.output_dir,
                       recipe=_recipe(args), min_agreement=args.min_agreement, targets=tuple(args.target or ()),
                       overwrite=args.overwrite, progress=args.progress, max_images=args.max_images,
                       max_eval_images=args.max_eval_images, seed=args.seed,
                       augmentation=Augmentation(copies=args.augment), compare_naive=args.compare_naive,
                       name=args.name, agreement_margin=args.agreement_margin, keep_on_miss=args.keep_on_miss)
    print(result.summary())
    return 1 if result.min_agreement_met is False else 0


def main(argv: list[str] | None = None) -> int:
    from nxport.core.guard import guarded_main

    return guarded_main("python -m nxport.calibration", "INT8 (QDQ) calibration of an Nx artifact", add_arguments, run, argv)
