"""Every registered rule, loaded: list them, run them on a ModelContext.

Importing this module imports each rule family (which registers itself in conventions.registry),
so the registry and the rules never import each other in a circle.
"""

from __future__ import annotations

import fnmatch
import time

import nxport.conventions.checking.rules  # noqa: F401  registers every rule family
from nxport.conventions.checking.context import ModelContext
from nxport.conventions.checking.findings import Finding
from nxport.conventions.checking.registry import Rule, finding, registered_rules


def list_rules(pattern: str = "*", profile: str | None = None) -> list[Rule]:
    """Registered rules whose id or function name matches `pattern` (fnmatch), in registration order."""
    return [
        r
        for r in registered_rules()
        if (fnmatch.fnmatch(r.rule_id, pattern) or fnmatch.fnmatch(r.name, pattern))
        and (profile is None or profile in r.profiles)
    ]


def run_rule(r: Rule, ctx: ModelContext) -> list[Finding]:
    try:
        return list(r.fn(ctx) or ())
    except Exception as exc:  # a crashing rule is a finding about this model, never a traceback
        return [
            finding(
                r.rule_id,
                f"could not be checked: {r.name} raised {type(exc).__name__}: {exc}",
                fix="the model has a structure the checker did not expect; verify the rule by hand "
                "and report the model to the nxport maintainers",
            )
        ]


def run_rules(ctx: ModelContext) -> tuple[list[Finding], list[str]]:
    findings: list[Finding] = []
    checked: list[str] = []
    seconds = ctx.extra.setdefault("rule_seconds", {})  # per rule id: the CI summary names the slowest
    for r in list_rules(profile=ctx.profile):
        started = time.perf_counter()
        findings.extend(run_rule(r, ctx))
        seconds[r.rule_id] = round(seconds.get(r.rule_id, 0.0) + time.perf_counter() - started, 4)
        if r.rule_id not in checked:
            checked.append(r.rule_id)
    return findings, checked
