"""The `--target` flag of `python -m nxport.conventions` (and, wired by the lead, `nxport check --target`).

Kept apart from conventions/__main__.py so the flag can be re-wired into another parser unchanged:
`add_target_arguments(parser)` adds it, `run_targets(path, targets, as_json, oracle)` runs it and returns
the exit code. With --oracle each target that has a real toolchain here (conventions/targets/_oracles/)
compiles the file too; its verdict, not the static one, then decides that target's exit code.
"""

from __future__ import annotations

import json

EXIT_CODES = ("exit codes with --target: 0 every target compiles (runs fully, with host partitions, "
              "or with unknown ops), 1 at least one target will not compile (with --oracle: the real "
              "toolchain refuses it, where one ran), 2 unreadable file or unknown target")


def add_target_arguments(parser) -> None:
    from nxport.conventions.targets import ALL, list_targets

    group = parser.add_argument_group("NPU preflight")
    group.add_argument("--target", action="append", default=None, metavar="NAME",
                       help=f"check what this NPU toolchain will take instead of the Nx conventions; repeatable; "
                            f"one of {', '.join(list_targets())}, or {ALL}. {EXIT_CODES}")
    group.add_argument("--oracle", action="store_true",
                       help="with --target: also compile the file with the target's real toolchain where one "
                            "installs here (qnn: onnxruntime-qnn, in .venv-npu-qnn from ./setup.sh) and print "
                            "its verdict next to the predicted one")


def _predicted(verdict) -> str:
    """The static verdict's text; its second line (the verdict's basis) says where it comes from."""
    return verdict.format_text()


def run_targets(path, targets: list[str], as_json: bool = False, oracle: bool = False, limits=None) -> int:
    from nxport.conventions.checking.findings import CheckReport
    from nxport.conventions.targets.preflight import preflight, preflight_report

    verdicts = preflight(path, targets)  # typed errors (unknown target, unreadable file): core.guard, exit 2
    oracles = {}
    if oracle:
        from nxport.conventions.targets._oracles import run_oracle

        oracles = {v.target: run_oracle(path, v.target, limits) for v in verdicts}
    report = preflight_report(path, verdicts)
    if oracles:  # a real toolchain's verdict replaces the prediction it confirmed or refuted
        decided = [f for v in verdicts for f in (oracles[v.target].findings if oracles[v.target].ran else v.findings)]
        missing = [f for o in oracles.values() if not o.ran for f in o.findings]
        report = CheckReport(source=str(path), readable=True, findings=decided + missing,
                             rules_checked=sorted({f.rule_id for f in decided + missing}), preflight=list(verdicts))
    code = report.exit_code  # the one exit rule: a MUST = a target will not compile
    if as_json:
        rows = [{**v.to_dict(), **({"oracle": oracles[v.target].to_dict()} if oracles else {})} for v in verdicts]
        print(json.dumps({"source": str(path), "exit_code": code, "targets": rows}, indent=2))
        return code
    print(f"{path}: NPU preflight, {len(verdicts)} target(s)")
    for v in verdicts:
        print(_predicted(v))
        if v.target in oracles:
            found = oracles[v.target]
            print(found.line() if found.ran else f"  {found.findings[0].format()}")
            if found.ran and not found.compiles:
                print(f"  fix: {found.findings[0].fix}")
    blocked = [v.target for v in verdicts
               if not (oracles[v.target].compiles if v.target in oracles and oracles[v.target].ran else v.compiles)]
    print(f"next: apply the MUST fixes for {', '.join(blocked)} and re-export" if blocked else
          "next: compile with the vendor toolchain; SHOULD lines cost speed, INFO lines are advice")
    return code
