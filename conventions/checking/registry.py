"""The one way findings are made: rule ids come from the spec, and every producer declares its ids.

Two kinds of producer, one registry:
- `@rule("A1")` registers a static check function under its own name. It takes a ModelContext and
  returns (or yields) Findings. Several functions may report the same rule id (the image and text
  profiles check B4 differently); the key is the function name, so listing and testing stay
  one-entry-per-check.
- `producer("runtime stage", ("A3", "D2"), doc)` declares a stage that emits findings outside the
  rule functions (the onnxruntime stage, the sandbox limits, the reference runtime, the NPU preflight).
  It returns a Producer whose `.finding(...)` refuses any id it did not declare.

Both validate every id against the spec when the module is imported: a typo'd id fails at import,
never when a user runs the checker. `finding()` builds every Finding: level and fix default to the
spec entry. The registry never imports the producer modules (they import it); checking.rulebook loads
them, lists them and runs the rules.
"""

from __future__ import annotations

import sys
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


def _known(rule_id: str, who: str) -> str:
    try:
        spec.rule_spec(rule_id)
    except KeyError:
        raise ValueError(f"{who} cites rule id {rule_id!r}, which conventions/spec/nx_conventions.json does not "
                         f"define; known: {', '.join(spec.rule_ids())}. Fix the id or add it to the spec") from None
    return rule_id


def rule(rule_id: str, *, profiles: tuple[str, ...] = ("image",)) -> Callable[[RuleFn], RuleFn]:
    _known(rule_id, "@rule")  # fail at import time on a typo'd id, not when a user runs the checker
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
    """A Finding whose level and fix default to the spec data for `rule_id` (KeyError for an id the spec lacks)."""
    data = spec.rule_spec(rule_id)
    return Finding(rule_id, level or Level(data["level"]), message, fix or data["fix"])


@dataclass(frozen=True)
class Producer:
    """A stage that emits findings outside the @rule functions, with the rule ids it may emit.
    NPU preflight ids are declared as their spec templates (`T-<target>-op`) and emitted per target."""

    name: str
    rule_ids: tuple[str, ...]
    module: str
    doc: str

    def emits(self, rule_id: str) -> bool:
        return spec.spec_key(rule_id) in self.rule_ids

    def finding(self, rule_id: str, message: str, *, level: Level | None = None, fix: str | None = None) -> Finding:
        if not self.emits(rule_id):
            raise ValueError(f"producer {self.name!r} emits {rule_id!r}, which it does not declare "
                             f"(declared: {', '.join(self.rule_ids)}); add it to its producer(...) line")
        return finding(rule_id, message, level=level, fix=fix)


_PRODUCERS: dict[str, Producer] = {}


def producer(name: str, rule_ids: Iterable[str], doc: str, *, module: str | None = None) -> Producer:
    """Declare a stage producer at import time; its ids must be spec ids (or T-<target>-<kind> templates)."""
    ids = tuple(_known(rule_id, f"producer {name!r}") for rule_id in rule_ids)
    if not ids:
        raise ValueError(f"producer {name!r} declares no rule ids")
    if name in _PRODUCERS:
        raise ValueError(f"producer {name!r} declared twice")
    caller = module or sys._getframe(1).f_globals.get("__name__", "?")  # the declaring module, for listings
    made = Producer(name, ids, caller, doc)
    _PRODUCERS[name] = made
    return made


def registered_rules() -> list[Rule]:
    """Rules registered so far, in registration order (conventions.rulebook imports every family)."""
    return list(_RULES.values())


def registered_producers() -> list[Producer]:
    """Stage producers declared so far (conventions.rulebook.load_producers imports every one)."""
    return list(_PRODUCERS.values())
