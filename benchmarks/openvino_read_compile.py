"""OpenVINO's own verdict on every ONNX backend node test: read_model, then compile_model("CPU").

Runs in a side environment with openvino installed (never the project's .venv), e.g.
    python3 -m venv /tmp/ov && /tmp/ov/bin/pip install openvino==2026.4.1
    /tmp/ov/bin/python benchmarks/openvino_read_compile.py .corpus/onnx-1.22.0/node results.jsonl
One JSON line per model: {"name", "read": bool, "compiled": bool, "error": the vendor message}. Resumable: a
vendor crash kills only the worker; the driver restarts it after the last written line (the crashing
model is recorded as {"crashed": true}). The Intel NPU compiler is not in the wheel: this is the ONNX
front end the NPU plugin compiles from, plus the CPU plugin, evidence for the front end, not the NPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def worker(corpus: Path, out: Path, done: set[str]) -> None:
    import openvino as ov

    core = ov.Core()
    with out.open("a") as sink:
        for model in sorted(corpus.glob("*/model.onnx")):
            name = model.parent.name
            if name in done:
                continue
            sink.write(json.dumps({"name": name, "started": True}) + "\n")
            sink.flush()
            row = {"name": name, "read": False, "compiled": False, "error": ""}
            try:
                m = core.read_model(str(model))
                row["read"] = True
                core.compile_model(m, "CPU")
                row["compiled"] = True
            except Exception as exc:  # the vendor's refusal is the measurement
                row["error"] = _reason(exc)
            sink.write(json.dumps(row) + "\n")
            sink.flush()


def _reason(exc: Exception) -> str:
    """The vendor's message without its source-file trace lines (those name OpenVINO's .cpp files)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(("Exception from", "Check '")) or len(lines) == 1]
    return " | ".join(useful or lines or [type(exc).__name__])[:400]


def finished(out: Path) -> tuple[set[str], str | None]:
    done, last_started = set(), None
    if out.exists():
        for line in out.read_text().splitlines():
            row = json.loads(line)
            if row.get("started"):
                last_started = row["name"]
            else:
                done.add(row["name"])
                last_started = None if last_started == row["name"] else last_started
    return done, last_started


def main(corpus: str, out: str) -> int:
    corpus_path, out_path = Path(corpus), Path(out)
    if len(sys.argv) > 3 and sys.argv[3] == "--worker":
        worker(corpus_path, out_path, finished(out_path)[0])
        return 0
    for _ in range(200):  # one restart per crashing model at most
        done, crashed = finished(out_path)
        if crashed:
            with out_path.open("a") as sink:
                sink.write(json.dumps({"name": crashed, "read": False, "compiled": False, "crashed": True,
                                       "error": "the worker process died"}) + "\n")
        proc = subprocess.run([sys.executable, __file__, corpus, out, "--worker"])
        if proc.returncode == 0:
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
