"""The conformance check over many files (issue 15): a folder of small generated models checked as
one call (`python -m nxport.conventions FOLDER --jobs 1`, then `--jobs 2`) against one process per file (a
shell loop, or a CI step per model). Writes conformance_batch.json (wall times, ratios, per-file
seconds, verdicts) and conformance_batch.md (what benchmarks/CONFORMANCE_BATCH.md holds) to --output-dir.

    .venv/bin/python benchmarks/conformance_batch.py --output-dir build/conformance_batch       # 50 models
    .venv/bin/python benchmarks/conformance_batch.py --models 4 --output-dir /tmp/batch-smoke     # smoke

Wall times come from a shared machine: read the medians and ratios. Not a timed test.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/conformance_batch.py` puts benchmarks/, not the repo, on the path
    sys.path.insert(0, str(REPO))

import numpy as np
import onnx
import onnx.parser
from onnx import numpy_helper

from nxport.conventions.kinds.scores import format_name as format_scores_name

CLASSIFIER = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[1,3,{size},{size}] "image-") => (float[1,{classes}] out) {{
  pooled = GlobalAveragePool("image-")
  flat = Flatten(pooled)
  logits = MatMul(flat, w)
  out = Softmax(logits)
}}
"""
IMAGENET = '{"means":[123.675,116.28,103.53],"vars":[58.395,57.12,57.375]}'
SIZES = (8, 16, 32, 64)  # static input sides: the runtime stage feeds each a resized real photo
CLASSES = (4, 10, 100, 1000)
BROKEN_EVERY = 5  # models 1, 6, 11, ... are broken: 10 of 50, and 1 of a 4-model smoke run


class Scenario(str, enum.Enum):
    ONE_CALL_JOBS1 = "one_call_jobs1"  # python -m nxport.conventions FOLDER --jobs 1
    ONE_CALL_JOBS2 = "one_call_jobs2"  # python -m nxport.conventions FOLDER --jobs 2
    PROCESS_PER_FILE = "process_per_file"  # for f in FOLDER/*.onnx; do python -m nxport.conventions $f; done


@dataclass(frozen=True)
class Settings:
    models: int = 50
    repeats: int = 1
    runtime: bool = True  # the onnxruntime stage, as CI runs it by default
    timeout_s: float = 600.0  # per CLI call, so a broken checker cannot hang the benchmark


@dataclass(frozen=True)
class Generated:
    name: str
    expected: str  # PASS or FAIL
    rule_id: str | None  # the MUST rule a broken model fails on
    kind: str = "conformant"


def classifier(size: int, classes: int, names: list[str] | None = None, doc: str = IMAGENET) -> onnx.ModelProto:
    """A tiny conformant Nx classifier: NCHW float input "image-", softmax scores, labels in the output name."""
    model = onnx.parser.parse_model(CLASSIFIER.format(size=size, classes=classes))
    weights = (np.arange(3 * classes, dtype=np.float32).reshape(3, classes) % 7) / 10
    model.graph.initializer.append(numpy_helper.from_array(weights, "w"))
    model.graph.doc_string = doc
    labels = names or [f"class_{i}" for i in range(classes)]
    scores = format_scores_name(labels)
    model.graph.node[-1].output[0] = scores
    model.graph.output[0].name = scores
    return model


def _duplicate_outputs(size: int, classes: int) -> onnx.ModelProto:
    model = classifier(size, classes)
    model.graph.output.append(model.graph.output[0])
    return model


BROKEN = {  # name -> (the MUST rule that fails it, builder)
    "vars_infinity": ("C3", lambda s, k: classifier(s, k, doc='{"means":[0,0,0],"vars":[1e999,1,1]}')),
    "class_name_nul": ("E2", lambda s, k: classifier(s, k, names=["c\x00at"] + [f"c{i}" for i in range(1, k)])),
    "duplicate_outputs": ("H5", _duplicate_outputs),
    "means_nan": ("C3", lambda s, k: classifier(s, k, doc='{"means":[NaN,0,0],"vars":[1,1,1]}')),
}


def write_models(folder: Path, count: int) -> dict[str, Generated]:
    """`count` models named m00_..., one in BROKEN_EVERY broken (cycling through BROKEN)."""
    out: dict[str, Generated] = {}
    broken = list(BROKEN.items())
    for i in range(count):
        size, classes = SIZES[i % len(SIZES)], CLASSES[(i // len(SIZES)) % len(CLASSES)]
        if i % BROKEN_EVERY == 1:
            kind, (rule_id, build) = broken[(i // BROKEN_EVERY) % len(broken)]
            entry, model = Generated(f"m{i:02d}_{kind}.onnx", "FAIL", rule_id, kind), build(size, classes)
        else:
            entry, model = Generated(f"m{i:02d}_ok_{size}px_{classes}cls.onnx", "PASS", None), classifier(size, classes)
        (folder / entry.name).write_bytes(model.SerializeToString())
        out[entry.name] = entry
    return out


def _cli(args: list[str], settings: Settings) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    flags = ["--format", "json"] + ([] if settings.runtime else ["--no-runtime"])
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nxport.conventions", *args, *flags], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=settings.timeout_s)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1, 2) or "Traceback" in proc.stderr or not proc.stdout.startswith("{"):
        raise RuntimeError(f"python -m nxport.conventions {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return wall, proc


def _files(stdout: str, folder: Path) -> dict[str, dict]:
    return {os.path.relpath(f["path"], folder): f for f in json.loads(stdout)["files"]}


def run_scenario(scenario: Scenario, folder: Path, settings: Settings) -> dict:
    """Wall time of one scenario, and what it said about every file."""
    from nxport.conventions.checking.batch import expand_paths

    if scenario is Scenario.PROCESS_PER_FILE:
        wall, files = 0.0, {}
        for path in expand_paths([str(folder)]):  # the files the one call finds, one process each
            seconds, proc = _cli([path], settings)
            wall += seconds
            files.update(_files(proc.stdout, folder))
    else:
        jobs = "1" if scenario is Scenario.ONE_CALL_JOBS1 else "2"
        wall, proc = _cli([str(folder), "--jobs", jobs], settings)
        files = _files(proc.stdout, folder)
    return {"wall_s": wall, "files": files}


def _outcome(f: dict) -> tuple[str, list[str]]:
    return f["verdict"], sorted({x["rule_id"] for x in f["findings"] if x["level"] == "MUST"})


def verdict_errors(files: dict[str, dict], expected: dict[str, Generated]) -> list[str]:
    """Generated models: each verdict (and the rule of a broken one) as built."""
    errors = [f"{name}: missing from the report" for name in expected if name not in files]
    for name, f in files.items():
        want, (verdict, musts) = expected[name], _outcome(f)
        if verdict != want.expected or (want.rule_id and want.rule_id not in musts):
            errors.append(f"{name}: {verdict} {musts}; expected {want.expected} {want.rule_id or ''}")
    return errors


def consistency_errors(files: dict[str, dict], reference: dict[str, dict]) -> list[str]:
    """Any folder: the same files, verdicts and MUST rules as the first run said."""
    def said(run: dict[str, dict], name: str):
        return _outcome(run[name]) if name in run else "missing"

    return [f"{name}: {said(files, name)} vs {said(reference, name)}" for name in sorted(set(files) | set(reference))
            if said(files, name) != said(reference, name)]


def measure(settings: Settings, folder: Path, expected: dict[str, Generated] | None) -> dict:
    """Every scenario `repeats` times, rotating the order so that drift on the shared machine is spread."""
    order = list(Scenario)
    walls: dict[Scenario, list[float]] = {s: [] for s in Scenario}
    reference: dict[str, dict] = {}
    per_file: list[list[float]] = []  # per --jobs 1 run: each file's own seconds inside the call
    errors: list[str] = []
    for repeat in range(settings.repeats):
        for scenario in order[repeat % len(order):] + order[:repeat % len(order)]:
            run = run_scenario(scenario, folder, settings)
            walls[scenario].append(run["wall_s"])
            reference = reference or run["files"]
            found = verdict_errors(run["files"], expected) if expected else []
            errors += [f"{scenario.value}: {e}" for e in found + consistency_errors(run["files"], reference)]
            if scenario is Scenario.ONE_CALL_JOBS1:
                per_file.append([f["seconds"] for f in run["files"].values()])
    return {"walls": walls, "per_file_s": per_file, "errors": errors, "files": reference}


def _describe_models(measured: dict, expected: dict[str, Generated] | None, folder: Path | None) -> dict:
    if expected is None:
        files = measured["files"]
        return {"total": len(files), "broken": sum(1 for f in files.values() if f["verdict"] != "PASS"),
                "source": str(folder), "verdicts": {v: sum(1 for f in files.values() if f["verdict"] == v)
                                                    for v in ("PASS", "FAIL", "UNREADABLE")}}
    return {"total": len(expected), "broken": sum(1 for g in expected.values() if g.expected == "FAIL"),
            "source": "generated", "sizes": list(SIZES), "classes": list(CLASSES),
            "broken_kinds": sorted({g.kind for g in expected.values()} - {"conformant"})}


def paired_ratio(walls: dict[Scenario, list[float]], slower: Scenario, faster: Scenario) -> float:
    """Median over repeats of slower/faster measured in the same repeat: the machine's load drifts
    between repeats far more than within one, so pairs are steadier than a ratio of medians."""
    return round(statistics.median([a / b for a, b in zip(walls[slower], walls[faster])]), 2)


def summarize(settings: Settings, measured: dict, models: dict, load_start: list[float]) -> dict:
    walls = measured["walls"]
    median = {s: statistics.median(w) for s, w in walls.items()}
    n, one_runs = models["total"], walls[Scenario.ONE_CALL_JOBS1]
    # per-file seconds from the --jobs 1 run whose wall time is the median one
    typical = min(range(len(one_runs)), key=lambda i: abs(one_runs[i] - median[Scenario.ONE_CALL_JOBS1]))
    per_file = measured["per_file_s"][typical]
    one, two, loop = (median[s] for s in Scenario)
    one_s, two_s, loop_s = Scenario
    return {
        "settings": asdict(settings),
        "machine": {"logical_cpus": os.cpu_count(), "load_average_at_start": load_start,
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "models": models,
        "wall_s": {s.value: {"median": round(median[s], 3), "runs": [round(w, 3) for w in measured["walls"][s]]}
                   for s in Scenario},
        "per_file_in_one_call_s": {"slowest": round(max(per_file), 3), "median": round(statistics.median(per_file), 3),
                                   "sum": round(sum(per_file), 3)},
        "ratios": {  # medians of per-repeat pairs (see paired_ratio)
            "process_per_file_over_one_call_jobs1": paired_ratio(walls, loop_s, one_s),
            "process_per_file_over_one_call_jobs2": paired_ratio(walls, loop_s, two_s),
            "one_call_jobs1_over_jobs2": paired_ratio(walls, one_s, two_s),
            "one_call_jobs2_over_slowest_x_n_over_2": round(two / (max(per_file) * n / 2), 2),
        },
        "per_file_process_overhead_s": round((loop - one) / n, 3),
        "verdicts_as_expected": not measured["errors"],
        "verdict_errors": measured["errors"],
    }


def markdown(results: dict) -> str:
    """The RESULTS.md section: one table, what the ratios mean, how it was run."""
    wall, ratios, per_file = results["wall_s"], results["ratios"], results["per_file_in_one_call_s"]
    models, settings, machine = results["models"], results["settings"], results["machine"]
    what = (f"{models['total']} generated tiny classifiers ({models['broken']} broken: "
            f"{', '.join(models['broken_kinds'])})" if models["source"] == "generated" else
            f"the {models['total']} files of `{models['source']}` ({models['broken']} not PASS)")
    rows = [("one call, `--jobs 1`", Scenario.ONE_CALL_JOBS1), ("one call, `--jobs 2`", Scenario.ONE_CALL_JOBS2),
            ("one process per file", Scenario.PROCESS_PER_FILE)]
    lines = [
        "## Conformance check over many files (median wall time)",
        "",
        f"Produced by `python benchmarks/conformance_batch.py` ({settings['repeats']} repeat(s), runtime stage "
        f"{'on' if settings['runtime'] else 'off'}): {what}; {machine['logical_cpus']} logical CPUs, load average "
        f"{machine['load_average_at_start'][0]:.1f} at start and {machine['load_average_at_end'][0]:.1f} at end "
        "(shared with other work). Ratios are medians of same-repeat pairs; > 1 = the one call is faster.",
        "",
        "| how | wall (s), median | each repeat (s) | per file (s) | process per file / this |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    paired = {Scenario.ONE_CALL_JOBS1: ratios["process_per_file_over_one_call_jobs1"],
              Scenario.ONE_CALL_JOBS2: ratios["process_per_file_over_one_call_jobs2"], Scenario.PROCESS_PER_FILE: 1.0}
    for label, scenario in rows:
        seconds = wall[scenario.value]["median"]
        runs = " / ".join(f"{w:.1f}" for w in wall[scenario.value]["runs"])
        per_model = seconds / models["total"]
        lines.append(f"| {label} | {seconds:.1f} | {runs} | {per_model:.2f} | **{paired[scenario]:.2f}** |")
    lines += [
        "",
        f"Inside a `--jobs 1` call a file takes {per_file['median']:.2f} s (median), {per_file['slowest']:.2f} s at "
        f"most; `--jobs 2` finished in {ratios['one_call_jobs2_over_slowest_x_n_over_2']:.2f} x (slowest file x "
        f"{models['total']} / 2). `--jobs 1` / `--jobs 2` = {ratios['one_call_jobs1_over_jobs2']:.2f}. "
        f"Starting a process per file costs {results['per_file_process_overhead_s']:.2f} s per file "
        "(interpreter, onnx and onnxruntime imports). Same verdicts and MUST rules in every way of running: "
        f"{'yes' if results['verdicts_as_expected'] else 'NO - see verdict_errors'}.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> tuple[Settings, Path, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=Settings.models, help="models in the folder (default 50)")
    parser.add_argument("--folder", type=Path, default=None,
                        help="check this folder's *.onnx instead of generated models (e.g. a model zoo)")
    parser.add_argument("--repeats", type=int, default=Settings.repeats, help="runs of each scenario (default 1)")
    parser.add_argument("--runtime", action=argparse.BooleanOptionalAction, default=True,
                        help="run each model in onnxruntime, as the check does by default (default: on)")
    parser.add_argument("--output-dir", type=Path, default=Path("build/conformance_batch"),
                        help="where conformance_batch.json and .md go (default build/conformance_batch)")
    args = parser.parse_args(argv)
    if args.models < 2 or args.repeats < 1:
        parser.error(f"--models {args.models} --repeats {args.repeats}: need at least 2 models and 1 repeat")
    if args.folder is not None and not args.folder.is_dir():
        parser.error(f"--folder {args.folder}: not a directory; pass a folder that holds .onnx files")
    return Settings(args.models, args.repeats, args.runtime), args.output_dir, args.folder


def run(settings: Settings, folder: Path | None) -> dict:
    load_start = [round(x, 2) for x in os.getloadavg()]
    if folder is not None:
        measured = measure(settings, folder.resolve(), None)
        return summarize(settings, measured, _describe_models(measured, None, folder), load_start)
    with tempfile.TemporaryDirectory(prefix="conformance_batch_") as tmp:
        expected = write_models(Path(tmp), settings.models)
        measured = measure(settings, Path(tmp), expected)
    return summarize(settings, measured, _describe_models(measured, expected, None), load_start)


def main(argv=None) -> int:
    from nxport.core.atomic import prepare_output_dir, write_bytes_atomic

    settings, output_dir, folder = parse_args(argv)
    output_dir = prepare_output_dir(output_dir)
    results = run(settings, folder)
    write_bytes_atomic(output_dir / "conformance_batch.json", (json.dumps(results, indent=2) + "\n").encode())
    section = markdown(results)
    write_bytes_atomic(output_dir / "conformance_batch.md", section.encode())
    print(section)
    print(f"wrote {output_dir / 'conformance_batch.json'} and {output_dir / 'conformance_batch.md'}")
    if results["verdict_errors"]:
        print("verdicts differ between runs or from the generated expectations:\n  "
              + "\n  ".join(results["verdict_errors"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
