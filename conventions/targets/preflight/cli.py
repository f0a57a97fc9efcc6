"""The `--target` flag of `python -m nxport.conventions` (and, wired by the lead, `nxport check --target`).

Kept apart from conventions/__main__.py so the flag can be re-wired into another parser unchanged:
`add_target_arguments(parser)` adds it, `run_targets(path, targets, as_json)` runs it and returns
the exit code.
"""

from __future__ import annotations

import json

EXIT_CODES = ("exit codes with --target: 0 every target compiles (runs fully, with host partitions, "
              "or with unknown ops), 1 at least one target will not compile, 2 unreadable file or unknown target")


def add_target_arguments(parser) -> None:
    from nxport.conventions.targets import ALL, list_targets

    group = parser.add_argument_group("NPU preflight")
    group.add_argument("--target", action="append", default=None, metavar="NAME",
                       help=f"check what this NPU toolchain will take instead of the Nx conventions; repeatable; "
                            f"one of {', '.join(list_targets())}, or {ALL}. {EXIT_CODES}")


def run_targets(path, targets: list[str], as_json: bool = False) -> int:
    from nxport.conventions.targets.preflight import preflight, preflight_report

    verdicts = preflight(path, targets)  # typed errors (unknown target, unreadable file): core.guard, exit 2
    code = preflight_report(path, verdicts).exit_code  # the one exit rule: a MUST = a target will not compile
    if as_json:
        report = {"source": str(path), "exit_code": code, "targets": [v.to_dict() for v in verdicts]}
        print(json.dumps(report, indent=2))
        return code
    print(f"{path}: NPU preflight, {len(verdicts)} target(s)")
    for v in verdicts:
        print(v.format_text())
    blocked = [v.target for v in verdicts if not v.compiles]
    print(f"next: apply the MUST fixes for {', '.join(blocked)} and re-export" if blocked else
          "next: compile with the vendor toolchain; SHOULD lines cost speed, INFO lines are advice")
    return code
