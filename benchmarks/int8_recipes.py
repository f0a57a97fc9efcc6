"""INT8 recipes side by side on the same held-out photos: ours, NNCF and the naive onnxruntime recipe,
plus the contribution of each step of ours.

For every model: top-1 agreement with FP32 by FP32-margin band (the worse of onnxruntime's fused CPU
kernels and the exact QDQ arithmetic, with 95% Wilson intervals), KL divergence, size ratio, latency
ratio (1 thread, medians) and how many Conv/Gemm/MatMul carry 8-bit weights. Calibration and
evaluation photos must be different scenes (benchmarks/heldout_photos.py makes such a split).

    python -m benchmarks.int8_recipes build/efficientnet_lite0.onnx --images photos/calibration \\
        --eval-images photos/evaluation --output benchmarks/int8_recipes.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from nxport.calibration import DEFAULT, NAIVE, evaluate
from nxport.calibration.artifact import read_artifact
from nxport.calibration.engine import Engine
from nxport.calibration.inventory import inventory
from nxport.calibration.reader import ImageSet, nx_tensors
from nxport.calibration.recipes import CalibrationMethodName, WeightRounding
from nxport.calibration.storage import WeightStorage

# Ours, built up one step at a time (each row adds one thing to the row before).
_NEAREST = replace(DEFAULT, weight_rounding=WeightRounding.NEAREST)
STEPS = (
    ("naive: s8 activations, s8 weights, logits and Softmax quantized", NAIVE),
    ("+ uint8 activations, logits float, 7-bit weights",
     replace(_NEAREST, reduce_range=True, bias_correction=False, weight_storage=WeightStorage.INT8,
             align_input_grid=False)),
    ("+ full 8-bit weights, stored int8",
     replace(_NEAREST, bias_correction=False, weight_storage=WeightStorage.INT8, align_input_grid=False)),
    ("+ stored uint8 with zero point 128", replace(_NEAREST, bias_correction=False, align_input_grid=False)),
    ("+ sequential bias correction", replace(_NEAREST, align_input_grid=False)),
    ("+ input on the device's pixel grid (previous default)", _NEAREST),
    ("+ GPTQ rounding on the INT8 model's own inputs (= default)", DEFAULT),
    ("  GPTQ rounding without bias correction", replace(DEFAULT, bias_correction=False)),
    ("  alternative: MSE ranges per tensor", replace(DEFAULT, method=CalibrationMethodName.MSE)),
)


def nncf_model(fp32_path: Path, tensors: list, input_name: str) -> bytes | None:
    """NNCF 3.4.0 post-training quantization with its defaults (mixed preset, fast bias correction)."""
    try:
        import nncf
        import onnx
    except ImportError:
        return None
    dataset = nncf.Dataset(tensors, lambda t: {input_name: t})
    return nncf.quantize(onnx.load(str(fp32_path)), dataset, subset_size=len(tensors)).SerializeToString()


def measure(engine: Engine, data: bytes, eval_tensors: list, fp32_cache: list, speed: bool) -> dict:
    import onnx

    by_runtime = evaluate.compare(engine.fp32_session(), {"m": data}, eval_tensors, engine.artifact.input_name,
                                  engine.metric, fp32_cache=fp32_cache)["m"]
    runs = {rt: a.to_dict() for rt, a in by_runtime.items()}
    worst = [min(bands, key=lambda b: b["top1_agreement"]) for bands in zip(*(r["by_margin"] for r in runs.values()))]
    row = {"by_margin": worst, "kl_mean": max(r["kl_mean"] for r in runs.values()), "by_runtime": runs,
           **{k: v for k, v in inventory(onnx.load_from_string(data)).items() if k != "compute_nodes_float"}}
    fp32_bytes = engine.fp32_path.read_bytes()
    row["size_ratio"] = round(len(data) / len(fp32_bytes), 4)
    if speed:
        timing = evaluate.speed_and_size(fp32_bytes, data, engine.artifact.input_name, eval_tensors[0], runs=30)
        row["latency_ratio"] = timing["latency_ratio"]
    return row


def run(fp32_path: Path, images: Path, eval_images: Path) -> dict:
    artifact, fp32 = read_artifact(fp32_path)
    calib, evalset = ImageSet.from_folder(images), ImageSet.from_folder(eval_images)
    eval_tensors, cache = list(nx_tensors(evalset, artifact)), []
    results = {"calibration": calib.summary(), "evaluation": evalset.summary(), "steps": {}, "side_by_side": {}}
    with tempfile.TemporaryDirectory(prefix="nxport-int8-bench-") as tmp:
        engine = Engine(artifact, fp32, calib, Path(tmp))
        for label, recipe in STEPS:
            row = measure(engine, engine.quantize(recipe).model, eval_tensors, cache, speed=recipe in (NAIVE, DEFAULT))
            results["steps"][label] = row
            if recipe is NAIVE:
                results["side_by_side"]["naive onnxruntime recipe"] = row
            if recipe is DEFAULT:
                results["side_by_side"]["ours (default recipe)"] = row
        nncf = nncf_model(engine.fp32_path, list(nx_tensors(calib, artifact)), artifact.input_name)
        results["side_by_side"]["NNCF 3.4.0 defaults"] = (measure(engine, nncf, eval_tensors, cache, speed=True)
                                                         if nncf else {"skipped": "nncf is not installed"})
    return results


def _cell(band: dict) -> str:
    return f"{band['top1_agreement']:.3f} ({band['agree']}/{band['images']}, {band['ci95'][0]:.2f}-{band['ci95'][1]:.2f})"


def markdown(results: dict) -> str:
    head = ("| recipe | all | margin >= 0.05 | >= 0.1 | >= 0.2 | KL | size ratio | latency ratio | 8-bit Conv/Gemm |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines = []
    order = [label for label, _ in STEPS]  # JSON written with sort_keys loses the step order
    steps = dict(sorted(results["steps"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99))
    for title, table in (("Side by side", results["side_by_side"]), ("Steps of ours", steps)):
        lines += [f"**{title}** (top-1 agreement with FP32, worse runtime, (agree/images, 95% CI))", "", head]
        for label, row in table.items():
            if "skipped" in row:
                lines.append(f"| {label} | skipped: {row['skipped']} |||||||| ")
                continue
            lines.append(f"| {label} | " + " | ".join(_cell(b) for b in row["by_margin"])
                         + f" | {row['kl_mean']:.4f} | {row['size_ratio']:.3f} | {row.get('latency_ratio', '-')} | "
                         f"{row['compute_nodes_int8']}/{row['compute_nodes']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--eval-images", type=Path, required=True)
    parser.add_argument("--output", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    results = run(args.model, args.images, args.eval_images)
    if args.output:
        args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
