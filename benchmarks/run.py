"""nxport benchmark suite: export stages, CPU latency, INT8 vs FP32 and closeness to peak, side by side
in one run on one machine. Writes results.json, RESULTS.md and PNG charts to --output-dir.

    .venv/bin/python benchmarks/run.py --quick --output-dir build/benchmarks    # a few minutes
    .venv/bin/python benchmarks/run.py --output-dir benchmarks/latest           # all four models

Medians and ratios only: the numbers come from shared, noisy machines. Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/run.py` puts benchmarks/, not the repo, on the path
    sys.path.insert(0, str(REPO))

from benchmarks.models import FULL_MODELS, MODELS, QUICK_MODELS

PRESETS = {  # (warmup, runs, export repeats, calibration images)
    "quick": (3, 15, 1, 6),
    "full": (10, 50, 3, 12),
}
INT8_QUICK_MODELS = ("tf_efficientnet_lite0",)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_argument_group("what to run")
    what.add_argument("--quick", action="store_true",
                      help=f"smoke-sized run: {', '.join(QUICK_MODELS)}, fewer runs, INT8 for lite0 only")
    what.add_argument("--models", nargs="+", metavar="NAME",
                      help=f"models to measure (default: quick {' '.join(QUICK_MODELS)}; full all of "
                      f"{' '.join(MODELS)})")
    what.add_argument("--skip-int8", action="store_true", help="skip calibration and the INT8/FP32 comparison")
    how = parser.add_argument_group("how to measure (defaults depend on --quick)")
    how.add_argument("--threads", type=int, default=1,
                     help="intra-op threads for both torch.set_num_threads and onnxruntime (default 1)")
    how.add_argument("--runs", type=int, help="interleaved timed rounds per latency (quick 15, full 50)")
    how.add_argument("--warmup", type=int, help="untimed warm-up runs per contender (quick 3, full 10)")
    how.add_argument("--export-repeats", type=int, help="exports per pipeline, median per stage (quick 1, full 3)")
    how.add_argument("--int8-images", type=int, help="calibration photos/crops (quick 6, full 12)")
    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", type=Path, default=Path("build/benchmarks"),
                     help="where results.json, RESULTS.md and the charts go (default build/benchmarks)")
    args = parser.parse_args(argv)
    return apply_preset(parser, args)


def apply_preset(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    warmup, runs, repeats, images = PRESETS["quick" if args.quick else "full"]
    args.warmup = warmup if args.warmup is None else args.warmup
    args.runs = runs if args.runs is None else args.runs
    args.export_repeats = repeats if args.export_repeats is None else args.export_repeats
    args.int8_images = images if args.int8_images is None else args.int8_images
    args.models = args.models or list(QUICK_MODELS if args.quick else FULL_MODELS)
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; allowed: {', '.join(MODELS)}")
    for flag, value, low in (("--threads", args.threads, 1), ("--runs", args.runs, 1), ("--warmup", args.warmup, 0),
                             ("--export-repeats", args.export_repeats, 1), ("--int8-images", args.int8_images, 1)):
        if value < low:
            parser.error(f"{flag} {value} must be >= {low}")
    if args.threads > (os.cpu_count() or 1):
        parser.error(f"--threads {args.threads} exceeds this machine's {os.cpu_count()} logical CPUs")
    return args


def warm_up_toolchain() -> None:
    """Pay one-time import and first-call costs (TorchScript, onnxsim, ORT) before anything is timed."""
    import io

    import onnx
    import onnxsim
    import torch

    from nxport import calibration  # noqa: F401  (import cost paid before timing)
    from nxport import conventions  # noqa: F401
    from nxport import exporters  # noqa: F401
    from benchmarks.latency import ort_runner

    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 6 * 6, 2)).eval()
    buffer = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice; nxport uses it on purpose
        torch.onnx.export(tiny, (torch.zeros(1, 3, 8, 8),), buffer, dynamo=False, opset_version=17,
                          input_names=["x"])
    model, _ = onnxsim.simplify(onnx.load_from_string(buffer.getvalue()))
    ort_runner(model.SerializeToString(), "x", torch.zeros(1, 3, 8, 8).numpy(), 1)()


def section(entry: dict, key: str, measure) -> object | None:
    """Run one measurement; a failure is recorded under `key` with its message and reported at the end
    (exit code 1), so one broken model does not hide the others' numbers."""
    try:
        value = measure()
    except Exception as exc:  # recorded, printed and turned into a non-zero exit; never silent
        entry[key] = {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}
        print(f"  {key}: FAILED {entry[key]['error']}", flush=True)
        return None
    entry[key] = value[0] if isinstance(value, tuple) else value
    return value


def measure_latency(ours_path: Path, baseline, x, args) -> dict:
    from benchmarks.export_stages import BASELINE_INPUT
    from benchmarks.latency import measure_interleaved, ort_runner, torch_runner
    from nxport.conventions.contract import read_contract

    stats = measure_interleaved({
        "ort": ort_runner(str(ours_path), read_contract(ours_path).input.name, x, args.threads),
        "ort_bare": ort_runner(baseline.model_bytes, BASELINE_INPUT, x, args.threads),
        "torch": torch_runner(baseline.module, x),
    }, runs=args.runs, warmup=args.warmup)
    stats["speedup_vs_torch"] = round(stats["torch"]["median_ms"] / stats["ort"]["median_ms"], 3)
    stats["bare_vs_ours"] = round(stats["ort_bare"]["median_ms"] / stats["ort"]["median_ms"], 3)
    stats["threads"] = args.threads
    return stats


def run_model(name: str, args, ctx: dict) -> dict:
    from benchmarks.export_stages import benchmark_export
    from benchmarks.int8 import benchmark_int8
    from benchmarks.roofline import roofline

    bench = MODELS[name]
    entry = {"model": name, "weights": bench.weights_label}
    print(f"[{name}] export x{args.export_repeats} (ours vs bare)", flush=True)
    exported = section(entry, "export", lambda: benchmark_export(bench, ctx["workdir"] / name, args.export_repeats,
                                                                 ctx["feeds"]))
    if exported is None:
        return entry
    _, ours_path, baseline = exported
    print(f"[{name}] latency: {args.runs} interleaved rounds after {args.warmup} warm-up", flush=True)
    latency = section(entry, "latency", lambda: measure_latency(ours_path, baseline, ctx["x"], args))
    if latency is not None:
        section(entry, "roofline", lambda: roofline(baseline.model_bytes, baseline.module, ctx["x"], latency,
                                                    ctx["machine"]))
    if ctx["int8_images"] is not None and (not args.quick or name in INT8_QUICK_MODELS):
        print(f"[{name}] INT8: calibrate on {args.int8_images} images, then interleaved FP32 vs INT8", flush=True)
        section(entry, "int8", lambda: benchmark_int8(ours_path, ctx["int8_images"], ctx["workdir"] / name / "int8",
                                                      ctx["x"], args.threads, args.runs, args.warmup))
    else:
        entry["int8"] = {"skipped": "--skip-int8" if args.skip_int8 else "--quick measures INT8 for lite0 only"}
    return entry


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from benchmarks import ceiling, machine, report
    from benchmarks.export_stages import first_input, photo_feeds
    from benchmarks.int8 import write_calibration_images

    started, load_start = time.perf_counter(), os.getloadavg()
    torch.set_num_threads(args.threads)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    settings = {"quick": args.quick, "threads": args.threads, "runs": args.runs, "warmup": args.warmup,
                "export_repeats": args.export_repeats, "int8_images": args.int8_images,
                "models": args.models, "batch": 1, "input": "224x224 RGB, a real photo"}
    results = machine.run_header(args.threads, settings, [report.SPEEDUP_NOTE])
    warm_up_toolchain()
    print(f"measured ceiling: FP32 MatMuls on {ceiling.thread_counts(args.threads)} thread(s)", flush=True)
    results["machine"].update(ceiling.measure(args.threads, "quick" if args.quick else "full"))
    # Artifacts live in a hidden work folder inside --output-dir (removed at the end), not in a shared /tmp.
    with tempfile.TemporaryDirectory(prefix=".work-", dir=args.output_dir) as tmp:
        feeds = photo_feeds()
        ctx = {"workdir": Path(tmp), "feeds": feeds, "x": first_input(feeds), "machine": results["machine"],
               "int8_images": None if args.skip_int8 else write_calibration_images(Path(tmp) / "calib",
                                                                                   args.int8_images)}
        results["models"] = [run_model(name, args, ctx) for name in args.models]
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results["load_average"] = {"start": [round(v, 2) for v in load_start],
                               "end": [round(v, 2) for v in os.getloadavg()]}
    results["charts"] = report.write_charts(results, args.output_dir)
    report.write_json(results, args.output_dir / "results.json")
    (args.output_dir / "RESULTS.md").write_text(report.markdown(results), encoding="utf-8")
    print(report.stdout_summary(results))
    print(f"wrote {args.output_dir / 'results.json'}, {args.output_dir / 'RESULTS.md'}, "
          + ", ".join(str(args.output_dir / c) for c in results["charts"]))
    failed = report.error_lines(results)
    if failed:
        print("\n".join(failed[2:]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
