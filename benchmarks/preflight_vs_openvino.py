"""The intel-npu preflight against OpenVINO's own read_model + compile_model("CPU"), on the ONNX node tests.

    # 1. OpenVINO's verdicts, in a side environment (see openvino_read_compile.py)
    /tmp/ov/bin/python benchmarks/openvino_read_compile.py .corpus/onnx-1.22.0/node ov.jsonl
    # 2. this table, in the project's environment
    PYTHONPATH=$PWD .venv/bin/python benchmarks/preflight_vs_openvino.py ov.jsonl [--list]
    # or from the recorded run (no OpenVINO needed):
    ... benchmarks/preflight_vs_openvino.py benchmarks/openvino_oracle/openvino-2026.4.1-node-tests.json

Measured (onnx 1.22.0 node tests, 1,765 files): before issue 23 the preflight passed 93 files OpenVINO
refuses and refused 146 it compiles; after: 14 false passes, 23 false refusals.

Prints the confusion table (preflight "compiles" / "will not compile" x OpenVINO compiled / refused),
the false passes (preflight says compiles, OpenVINO cannot read or compile) and the false refusals, each
with OpenVINO's message or the preflight's blocking rules. OpenVINO's NPU compiler is not in the wheel: the
CPU plugin stands in for it, so this measures the ONNX front end the NPU compiles from, not the NPU.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from nxport.conventions.targets.preflight import preflight

CORPUS = Path(__file__).resolve().parents[1] / ".corpus" / "onnx-1.22.0" / "node"


def openvino_rows(path: Path) -> dict[str, dict]:
    """The worker's .jsonl, or the recorded benchmarks/openvino_oracle/*.json (compiled list + refused map)."""
    if path.suffix == ".json":
        recorded = json.loads(path.read_text())
        rows = {name: {"compiled": True} for name in recorded["compiled"]}
        rows.update({name: {"compiled": False, "error": why} for name, why in recorded["refused"].items()})
        return rows
    rows = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if not row.get("started"):
            rows[row["name"]] = row
    return rows


def compare(rows: dict[str, dict], target: str = "intel-npu") -> dict[tuple[bool, bool], list[tuple[str, str]]]:
    cells: dict[tuple[bool, bool], list[tuple[str, str]]] = {}
    for name, row in sorted(rows.items()):
        verdict = preflight(str(CORPUS / name / "model.onnx"), target)[0]
        why = row.get("error", "") if verdict.compiles else ", ".join(verdict.blocking_rules)
        cells.setdefault((verdict.compiles, row["compiled"]), []).append((name, why))
    return cells


def main(argv: list[str]) -> int:
    rows = openvino_rows(Path(argv[0]))
    cells = compare(rows)
    n = lambda p, o: len(cells.get((p, o), []))  # noqa: E731
    print(f"intel-npu preflight vs OpenVINO read_model + compile_model('CPU'), {len(rows)} node tests")
    print(f"{'':28}{'OV compiles':>14}{'OV refuses':>14}")
    print(f"{'preflight: compiles':28}{n(True, True):>14}{n(True, False):>14}")
    print(f"{'preflight: will not compile':28}{n(False, True):>14}{n(False, False):>14}")
    for title, key in (("false passes (OpenVINO refuses)", (True, False)),
                       ("false refusals (OpenVINO compiles)", (False, True))):
        members = cells.get(key, [])
        print(f"\n{title}: {len(members)}")
        reasons = Counter(why.split(" | ")[0][:120] for _, why in members)
        for why, count in reasons.most_common(25):
            print(f"  {count:4d}  {why}")
        if "--list" in argv:
            for name, why in members:
                print(f"    {name}: {why[:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
