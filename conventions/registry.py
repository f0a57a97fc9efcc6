"""The rule registry: `@rule("A1")` registers a check function under its own name.

A rule function takes a ModelContext and returns (or yields) Findings. Several functions may
report the same rule id (the image and text profiles check B4 differently); the registry key is the
function name, so listing and testing stay one-entry-per-check.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from conventions import spec
from conventions.context import PROFILES, ModelContext
from conventions.findings import Finding, Level

RuleFn = Callable[[ModelContext], Iterable[Finding] | None]


@dataclass(frozen=True)
class Rule:
    name: str
    rule_id: str
    fn: RuleFn
    profiles: tuple[str, ...]

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip()


_RULES: dict[str, Rule] = {}


def rule(rule_id: str, *, profiles: tuple[str, ...] = ("image",)) -> Callable[[RuleFn], RuleFn]:
    spec.rule_spec(rule_id)  # fail at import time on a typo'd id, not when a user runs the checker
    unknown = set(profiles) - set(PROFILES)
    if unknown:
        raise ValueError(f"rule {rule_id}: unknown profiles {sorted(unknown)}; allowed: {PROFILES}")

    def register(fn: RuleFn) -> RuleFn:
        if fn.__name__ in _RULES:
            raise ValueError(f"rule function {fn.__name__!r} registered twice")
        _RULES[fn.__name__] = Rule(fn.__name__, rule_id, fn, tuple(profiles))
        return fn

    return register


def finding(rule_id: str, message: str, *, level: Level | None = None, fix: str | None = None) -> Finding:
    """A Finding whose level and fix default to the spec data for `rule_id`."""
    data = spec.rule_spec(rule_id)
    return Finding(rule_id, level or Level(data["level"]), message, fix or data["fix"])


def list_rules(pattern: str = "*", profile: str | None = None) -> list[Rule]:
    """Registered rules whose id or function name matches `pattern` (fnmatch), in registration order."""
    _ensure_loaded()
    return [
        r
        for r in _RULES.values()
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


def _ensure_loaded() -> None:
    # Rule modules register themselves on import; importing here keeps `import conventions` light.
    import conventions.rules  # noqa: F401
