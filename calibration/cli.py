"""`python -m nxport.calibration` / `nxport calibrate`: a thin CLI over calibration.calibrate().

Exit codes: 0 done (and target met, if one was asked for), 1 target missed (nothing written unless
--keep-on-miss) or a check failed, 2 bad input (missing model, not an Nx artifact, empty/undecodable
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
                       help="auto: the default recipe, then layers kept float only if --target is missed (default); "
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
    quant.add_argument("--target", type=float, help="required top-1 agreement (classifiers) or mean cosine "
                       "(embeddings) on the evaluation images; default 0.99 with --recipe auto")
    quant.add_argument("--target-margin", type=float, choices=MARGIN_BANDS, default=0.1,
                       help="classifiers: --target applies to the images whose FP32 top-1 margin is at least this "
                       "(default 0.1; 0 = all images, near-ties included)")
    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", type=Path, default=Path("build"))
    out.add_argument("--name", help="base name (default: the FP32 file's stem) -> NAME.int8.onnx")
    out.add_argument("--overwrite", action="store_true")
    out.add_argument("--keep-on-miss", action="store_true",
                     help="write the INT8 model and report even when --target is missed (default: write nothing)")
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


def run(args) -> int:
    from nxport.calibration.detection import is_detector_artifact
    from nxport.core.extras import require

    require("calibrate")  # the light install has no progress bar library: say so before any work

    if is_detector_artifact(args.model):  # bboxes- artifacts: the network is quantized, the tail stays float
        from nxport.calibration.detection import run_cli

        return run_cli(args)
    from nxport.calibration.api import calibrate

    result = calibrate(args.model, args.images, eval_images=args.eval_images, output_dir=args.output_dir,
                       recipe=_recipe(args), target=args.target, overwrite=args.overwrite, progress=args.progress,
                       max_images=args.max_images, max_eval_images=args.max_eval_images, seed=args.seed,
                       augmentation=Augmentation(copies=args.augment), compare_naive=args.compare_naive,
                       name=args.name, target_margin=args.target_margin, keep_on_miss=args.keep_on_miss)
    print(result.summary())
    return 1 if result.target_met is False else 0


def main(argv: list[str] | None = None) -> int:
    from nxport.core.guard import guarded_main

    return guarded_main("python -m nxport.calibration", "INT8 (QDQ) calibration of an Nx artifact", add_arguments, run, argv)
