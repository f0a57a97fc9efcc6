"""INT8 vs FP32: calibrate the FP32 artifact with the calibration package (fixed default recipe, not
the automatic search, to stay quick) on real photos and crops, then size ratio and the ORT latency
ratio INT8/FP32 measured interleaved in the same rounds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from benchmarks.latency import measure_interleaved, ort_runner


def write_calibration_images(folder: Path, count: int, seed: int = 0) -> Path:
    """`count` JPEGs: the offline sample photos first, then seeded random crops of them."""
    from PIL import Image

    from nxport.core.images import sample_photos

    folder.mkdir(parents=True, exist_ok=True)
    photos, rng = sample_photos(), np.random.default_rng(seed)
    for i in range(count):
        photo = photos[i % len(photos)]
        img = Image.fromarray(photo.rgb)
        if i >= len(photos):
            w, h = img.size
            s = rng.uniform(0.5, 0.9)
            x, y = int(rng.integers(0, w - int(w * s) + 1)), int(rng.integers(0, h - int(h * s) + 1))
            img = img.crop((x, y, x + int(w * s), y + int(h * s)))
        img.save(folder / f"{i:03d}_{photo.name}.jpg", quality=92)
    return folder


def benchmark_int8(fp32_path: Path, images: Path, workdir: Path, x: np.ndarray, threads: int,
                   runs: int, warmup: int) -> dict:
    from nxport.calibration import DEFAULT, Augmentation, calibrate
    from nxport.exporters.classification import INPUT_NAME as input_name

    started = time.perf_counter()
    result = calibrate(fp32_path, images, output_dir=workdir, recipe=DEFAULT, progress=False,
                       compare_naive=False, augmentation=Augmentation(copies=0), overwrite=True)
    calibrate_s = time.perf_counter() - started
    report = result.report.to_dict()
    latency = measure_interleaved({"fp32": ort_runner(str(fp32_path), input_name, x, threads),
                                   "int8": ort_runner(str(result.onnx_path), input_name, x, threads)},
                                  runs=runs, warmup=warmup)
    fp32_bytes, int8_bytes = fp32_path.stat().st_size, result.onnx_path.stat().st_size
    return {
        "recipe": report["recipe"]["name"], "calibration_images": sum(1 for _ in images.iterdir()),
        "calibrate_s": round(calibrate_s, 2),
        "fp32_bytes": fp32_bytes, "int8_bytes": int8_bytes, "size_ratio": round(int8_bytes / fp32_bytes, 4),
        "fp32": latency["fp32"], "int8": latency["int8"],
        "latency_ratio": round(latency["int8"]["median_ms"] / latency["fp32"]["median_ms"], 3),
        "metric": report["metric"], "agreement": report[report["metric"]],
        "agreement_note": "on the calibration images themselves (optimistic); random-init models: not meaningful",
    }
