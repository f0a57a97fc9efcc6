"""Detection benchmark: export stage times and CPU latency of nxport detector artifacts, in one run.

- YOLOv8n (real weights: nudenet's 320n.onnx, a raw Ultralytics export): `nxport export detection`
  stage times (from its report) and artifact size; onnxruntime latency of the Nx artifact (network +
  decode + NMS tail) vs the raw network as shipped (fixed to 320x320), interleaved. Ultralytics is not
  a dependency (AGPL), so there is no PyTorch twin of this network here: the ratio is the tail's cost.
- YOLOS (transformers, random init, hustvl/yolos-tiny's architecture at a reduced input size):
  export stage times; PyTorch eager (forward + transformers' post_process_object_detection, and the
  forward alone) vs the exported artifact in onnxruntime, interleaved, same threads.

    python -m benchmarks.detection --output-dir build/bench-detection      # ~1 min on 2 idle cores
    python -m benchmarks.detection --models yolov8n --runs 2 --warmup 1 --output-dir /tmp/d   # smoke

Writes DIR/detection.json and DIR/DETECTION.md. Medians and ratios only (shared, noisy machines).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/detection.py` puts benchmarks/, not the repo, on the path
    sys.path.insert(0, str(REPO))

MODELS = ("yolov8n", "yolos")
YOLOV8N_SIZE = 320  # what the shipped export was trained and exported at (its `imgsz` metadata)
LATENCY_PHOTO = "astronaut"  # a real photo with a face: the YOLOv8n tail has rows to suppress and keep
# hustvl/yolos-tiny's architecture (DeiT-Ti backbone: hidden 192, 12 layers, 3 heads, MLP 768; 100
# detection tokens; 91 COCO label slots). Its checkpoint is not installable offline, so random init;
# the input is reduced from the checkpoint's 800x1333 position table to a square one (--yolos-size)
# so one eager forward stays well under a second on one core.
YOLOS_TINY = {"model_type": "yolos", "hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3,
              "intermediate_size": 768, "patch_size": 16, "num_detection_tokens": 100, "num_labels": 91,
              "use_mid_position_embeddings": False, "hidden_act": "gelu", "qkv_bias": True}
YOLOS_THRESHOLD = 0.5  # transformers' post_process_object_detection default, also the artifact's feed
YOLO_THRESHOLD = 0.25  # Ultralytics' predict default
YOLO_LOW_THRESHOLD = 0.01  # many more candidates reach NMS: the tail's cost when it has the most work
TAIL_NOTE = ("tail cost = artifact / raw network (onnxruntime both): > 1 means the in-graph decode + NMS + "
             "threshold + mask adds that factor; the difference of medians is its absolute cost (a difference "
             "smaller than the contenders' p25-p75 spread is not resolved by this run)")
SPEEDUP_NOTE = ("speed-up = PyTorch eager / artifact in onnxruntime: > 1 means the artifact is faster; "
                "'end to end' includes transformers' post_process_object_detection, 'network' the forward only")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="what to measure (default: both)")
    parser.add_argument("--threads", type=int, default=1,
                        help="intra-op threads for torch.set_num_threads and onnxruntime (default 1)")
    parser.add_argument("--runs", type=int, default=40, help="interleaved timed rounds (default 40)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up runs per contender (default 5)")
    parser.add_argument("--yolos-size", type=int, default=512,
                        help="YOLOS square input side, a multiple of 16 (default 512)")
    parser.add_argument("--output-dir", type=Path, default=Path("build/bench-detection"),
                        help="where detection.json and DETECTION.md go (default build/bench-detection)")
    args = parser.parse_args(argv)
    for flag, value, low in (("--threads", args.threads, 1), ("--runs", args.runs, 1), ("--warmup", args.warmup, 0),
                             ("--yolos-size", args.yolos_size, 16)):
        if value < low:
            parser.error(f"{flag} {value} must be >= {low}")
    if args.yolos_size % 16:
        parser.error(f"--yolos-size {args.yolos_size} must be a multiple of the patch size 16, e.g. 512")
    if args.threads > (os.cpu_count() or 1):
        parser.error(f"--threads {args.threads} exceeds this machine's {os.cpu_count()} logical CPUs")
    return args


def yolov8n_weights() -> Path:
    """nudenet==3.4.2's 320n.onnx, located without importing nudenet (its __init__ needs OpenCV)."""
    import importlib.util

    spec = importlib.util.find_spec("nudenet")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the YOLOv8n benchmark needs the nudenet weights: pip install --no-deps nudenet==3.4.2")
    return Path(list(spec.submodule_search_locations)[0]) / "320n.onnx"


def artifact_feed(path: Path, threshold: float) -> dict:
    """The one place this benchmark reads an artifact: the real photo preprocessed as Nx would feed it
    (contract input and normalization), plus the optional threshold and an all-true mask."""
    import numpy as np

    from nxport.conventions.contract import read_contract
    from nxport.core.images import sample_photos
    from nxport.exporters.detection_tail import MASK_INPUT, THRESHOLD_INPUT
    from nxport.exporters.parity import nx_feeds

    contract = read_contract(path)
    photo = next(p for p in sample_photos() if p.name == LATENCY_PHOTO)
    feed = nx_feeds([photo], contract.input.name, contract.input_shape, contract.normalization)[0]
    _, _, height, width = contract.input_shape
    optional = {t.name for t in contract.optional_inputs}
    if THRESHOLD_INPUT in optional:
        feed[THRESHOLD_INPUT] = np.array([threshold], np.float32)
    if MASK_INPUT in optional:
        feed[MASK_INPUT] = np.ones((height, width), bool)
    return feed


def export_stages(timings_s: dict) -> dict:
    timings = {stage: round(float(seconds), 3) for stage, seconds in timings_s.items()}
    return {"stages_s": timings, "total_s": round(sum(timings.values()), 3)}


def parity_summary(parity: dict) -> dict:
    """What the export proved before it was timed (from its report): the artifact's rows vs a reference."""
    return {k: parity.get(k) for k in ("reference", "all_classes_match", "min_iou", "max_score_diff")}


def rows_of(path: Path, feed: dict, threads: int) -> int:
    from nxport.core.sessions import cpu_session

    return int(cpu_session(str(path), threads=threads).run(None, feed)[0].shape[0])


def bench_yolov8n(args, workdir: Path) -> dict:
    """`nxport export detection` as a user runs it, then artifact vs raw network in onnxruntime."""
    from benchmarks.latency import measure_interleaved, ort_feed_runner
    import numpy as np

    from nxport.exporters.detection_head import INPUT_NAME, read_network
    from nxport.exporters.detection_tail import THRESHOLD_INPUT
    from nxport.cli import main as nxport_main

    weights = yolov8n_weights()
    out = workdir / "yolov8n"
    argv = ["export", "detection", "--weights", str(weights), "--name", "yolov8n_face", "--input-size",
            str(YOLOV8N_SIZE), str(YOLOV8N_SIZE), "--output-dir", str(out)]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the CLI's summary; the report file has the numbers
        code = nxport_main(argv)
    wall = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"nxport {' '.join(argv)} exited {code}")
    artifact = out / "yolov8n_face.onnx"
    report = json.loads((out / "yolov8n_face.report.json").read_text(encoding="utf-8"))
    export = export_stages(report["timings_s"])
    parity = report["provenance"]["parity"]
    shown = argv[:2] + ["--weights", weights.name] + argv[4:7]  # without the site-packages path
    export.update(wall_s=round(wall, 3), command="nxport " + " ".join(shown))
    # The raw network as shipped, its dynamic input fixed to 320x320 (the same graph the artifact embeds).
    raw = read_network(weights, (YOLOV8N_SIZE, YOLOV8N_SIZE)).model.SerializeToString()
    feed = artifact_feed(artifact, YOLO_THRESHOLD)
    low = {**feed, THRESHOLD_INPUT: np.array([YOLO_LOW_THRESHOLD], np.float32)}
    print(f"[yolov8n] latency: {args.runs} interleaved rounds after {args.warmup} warm-up", flush=True)
    stats = measure_interleaved({
        "ort_artifact": ort_feed_runner(str(artifact), feed, args.threads),
        "ort_artifact_low_threshold": ort_feed_runner(str(artifact), low, args.threads),
        "ort_raw_network": ort_feed_runner(raw, {INPUT_NAME: feed[INPUT_NAME]}, args.threads),
    }, runs=args.runs, warmup=args.warmup)
    raw_ms = stats["ort_raw_network"]["median_ms"]
    for suffix, key in (("", "ort_artifact"), ("_low_threshold", "ort_artifact_low_threshold")):
        stats[f"tail_cost_ratio{suffix}"] = round(stats[key]["median_ms"] / raw_ms, 3)
        stats[f"tail_ms{suffix}"] = round(stats[key]["median_ms"] - raw_ms, 3)
    stats.update(threads=args.threads, threshold=YOLO_THRESHOLD, rows=rows_of(artifact, feed, args.threads),
                 low_threshold=YOLO_LOW_THRESHOLD, rows_low_threshold=rows_of(artifact, low, args.threads))
    return {"model": "yolov8n", "weights": f"real: nudenet 320n.onnx (Ultralytics YOLOv8n, 18 classes), "
            f"{weights.stat().st_size} bytes", "input": [1, 3, YOLOV8N_SIZE, YOLOV8N_SIZE], "photo": LATENCY_PHOTO,
            "artifact_bytes": artifact.stat().st_size, "raw_network_bytes": len(raw), "parity": parity_summary(parity),
            "export": export,
            "latency": stats}


def yolos_config(size: int) -> dict:
    return {**YOLOS_TINY, "image_size": [size, size]}


def yolos_torch(size: int):
    """The same random-init model the export builds (same seed, same config), and transformers' processor."""
    import torch
    import transformers

    torch.manual_seed(0)  # transformers' random init draws from torch's global generator
    kwargs = dict(yolos_config(size))
    hf_config = transformers.AutoConfig.for_model(kwargs.pop("model_type"), **kwargs)
    model = transformers.AutoModelForObjectDetection.from_config(hf_config).eval()
    return model, transformers.YolosImageProcessor()


def bench_yolos(args, workdir: Path) -> dict:
    import torch

    from benchmarks.latency import measure_interleaved, ort_feed_runner
    from nxport.exporters.detection import export_detection
    from nxport.exporters.detection_config import DetectionConfig
    from nxport.exporters.detection_head import INPUT_NAME

    size = args.yolos_size
    print(f"[yolos] export (random init, yolos-tiny architecture, {size}x{size})", flush=True)
    torch.manual_seed(0)
    started = time.perf_counter()
    result = export_detection(DetectionConfig(model="hustvl/yolos-tiny", random_init=True, hf_config=yolos_config(size),
                                              output_dir=workdir / "yolos", name="yolos_tiny"))
    export = export_stages(result.report.timings_s)
    export["wall_s"] = round(time.perf_counter() - started, 3)
    feed = artifact_feed(result.onnx_path, YOLOS_THRESHOLD)
    model, processor = yolos_torch(size)
    pixels = torch.from_numpy(feed[INPUT_NAME])
    target = [(size, size)]

    def end_to_end():
        with torch.inference_mode():
            processor.post_process_object_detection(model(pixel_values=pixels), threshold=YOLOS_THRESHOLD,
                                                    target_sizes=target)

    def network():
        with torch.inference_mode():
            model(pixel_values=pixels)

    print(f"[yolos] latency: {args.runs} interleaved rounds after {args.warmup} warm-up", flush=True)
    stats = measure_interleaved({"ort_artifact": ort_feed_runner(str(result.onnx_path), feed, args.threads),
                                 "torch_end_to_end": end_to_end, "torch_network": network},
                                runs=args.runs, warmup=args.warmup)
    ort_ms = stats["ort_artifact"]["median_ms"]
    stats.update(speedup_end_to_end=round(stats["torch_end_to_end"]["median_ms"] / ort_ms, 3),
                 speedup_network_only=round(stats["torch_network"]["median_ms"] / ort_ms, 3),
                 threads=args.threads, threshold=YOLOS_THRESHOLD,
                 rows=rows_of(result.onnx_path, feed, args.threads))
    return {"model": "yolos", "weights": "random init (the hustvl/yolos-tiny checkpoint is not available offline)",
            "config": yolos_config(size), "input": [1, 3, size, size], "photo": LATENCY_PHOTO,
            "artifact_bytes": result.onnx_path.stat().st_size,
            "parity": parity_summary(result.report.provenance["parity"]),
            "export": export, "latency": stats}


BENCHES = {"yolov8n": bench_yolov8n, "yolos": bench_yolos}


def run_bench(name: str, args, workdir: Path) -> dict:
    """One model; a failure is recorded with its message (and makes the exit code 1), never silent."""
    try:
        return BENCHES[name](args, workdir)
    except Exception as exc:  # recorded, printed and turned into a non-zero exit
        message = f"{type(exc).__name__}: {str(exc)[:400]}"
        print(f"[{name}] FAILED {message}", flush=True)
        return {"model": name, "error": message}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from benchmarks import machine, report
    from benchmarks.detection_report import markdown

    started, load_start = time.perf_counter(), os.getloadavg()
    torch.set_num_threads(args.threads)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    settings = {"models": args.models, "threads": args.threads, "runs": args.runs, "warmup": args.warmup,
                "yolos_size": args.yolos_size, "batch": 1}
    results = machine.run_header(args.threads, settings, [TAIL_NOTE, SPEEDUP_NOTE])
    # Artifacts live in a hidden work folder inside --output-dir (removed at the end), not in a shared /tmp.
    with tempfile.TemporaryDirectory(prefix=".work-", dir=args.output_dir) as tmp:
        results["models"] = [run_bench(name, args, Path(tmp)) for name in args.models]
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results["load_average"] = {"start": [round(v, 2) for v in load_start],
                               "end": [round(v, 2) for v in os.getloadavg()]}
    report.write_json(results, args.output_dir / "detection.json")
    text = markdown(results)
    (args.output_dir / "DETECTION.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {args.output_dir / 'detection.json'}, {args.output_dir / 'DETECTION.md'}")
    return 1 if any("error" in m for m in results["models"]) else 0


if __name__ == "__main__":
    sys.exit(main())
