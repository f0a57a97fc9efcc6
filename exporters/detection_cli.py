"""`nxport export detection` options, kept beside the config they fill (one mapping, no drift)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nxport.exporters.config import DEFAULT_OPSET
from nxport.exporters.detection_config import DEFAULT_IOU, DEFAULT_MAX_DETECTIONS, DEFAULT_THRESHOLD
from nxport.exporters.npu_target import add_target_option


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_argument_group("model source")
    source.add_argument("--weights", type=Path,
                        help="raw Ultralytics ONNX export (`yolo export format=onnx`, without nms=True), or with "
                        "--model a Hugging Face save_pretrained directory")
    source.add_argument("--model", help="DETR-family detector (YOLOS, DETR) from transformers, e.g. hustvl/yolos-tiny")
    source.add_argument("--random-init", action="store_true", help="--model only: random weights, structure tests")
    source.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="--model only: torch export opset (11..17)")
    source.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"),
                        help="fixes a dynamic input (default: the export's imgsz metadata, or --model's config "
                        "image_size); must be a multiple of the stride")
    classes = parser.add_argument_group("classes")
    classes.add_argument("--labels", type=Path, help="one name per line or a JSON list (default: the export's names)")
    classes.add_argument("--replace-char", help="replace ';', ':' and line breaks in class names (rule E2)")
    tail = parser.add_argument_group("decode / NMS tail")
    tail.add_argument("--iou", type=float, help=f"NMS IoU (default: the family's, YOLO {DEFAULT_IOU} as Ultralytics)")
    tail.add_argument("--max-detections", type=int, default=DEFAULT_MAX_DETECTIONS,
                      help=f"rows per frame at most (default {DEFAULT_MAX_DETECTIONS}, Ultralytics')")
    tail.add_argument("--threshold-input", action=argparse.BooleanOptionalAction, default=True,
                      help="the `nms_sensitivity-` input (--no-threshold-input bakes --threshold)")
    tail.add_argument("--threshold", type=float,
                      help=f"baked score threshold without the input (default: the family's, YOLO {DEFAULT_THRESHOLD})")
    tail.add_argument("--mask-input", action=argparse.BooleanOptionalAction, default=True,
                      help="the `mask-` bool (H, W) input (bottom-centre rule)")
    tail.add_argument("--split", action="store_true",
                      help="also write <name>.network.onnx (up to the raw head) and <name>.post.onnx (the tail)")
    artifact = parser.add_argument_group("artifact")
    artifact.add_argument("--output-dir", type=Path, default=Path("build"))
    artifact.add_argument("--name", help="artifact base name (default: the weights' file name)")
    artifact.add_argument("--overwrite", action="store_true", help="replace an existing artifact")
    artifact.add_argument("--parity-images", type=Path, help="folder of photos for the parity check "
                          "(default: real photos shipped with scikit-image)")
    add_target_option(parser)


def config_from_args(args):
    from nxport.exporters.detection_config import DetectionConfig

    return DetectionConfig(
        weights=args.weights, model=args.model, random_init=args.random_init, opset=args.opset,
        labels=args.labels, replace_char=args.replace_char,
        input_size=tuple(args.input_size) if args.input_size else None, iou=args.iou,
        max_detections=args.max_detections, threshold_input=args.threshold_input, mask_input=args.mask_input,
        threshold=args.threshold, split=args.split, output_dir=args.output_dir, name=args.name,
        overwrite=args.overwrite, parity_images=args.parity_images, targets=tuple(args.target or ()))


def run(args) -> int:
    from nxport.exporters.detection import export_detection
    from nxport.exporters.report import format_summary

    result = export_detection(config_from_args(args))
    print(format_summary(result.report, result.onnx_path, result.report_path))
    return 0
