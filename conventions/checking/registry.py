"""The rule registry: `@rule("A1")` registers a check function under its own name.

A rule function takes a ModelContext and returns (or yields) Findings. Several functions may
report the same rule id (the image and text profiles check B4 differently); the registry key is the
function name, so listing and testing stay one-entry-per-check. The registry never imports the rule
modules (they import it); conventions.rulebook loads them and runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from nxport.conventions import spec
from nxport.conventions.checking.context import PROFILES, ModelContext
from nxport.conventions.checking.findings import Finding, Level

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


def registered_rules() -> list[Rule]:
    """Rules registered so far, in registration order (conventions.rulebook imports every family)."""
    return list(_RULES.values())
