"""Every registered rule, loaded: list them, run them on a ModelContext; and the rule catalog.

Importing this module imports each rule family (which registers itself in conventions.registry),
so the registry and the rules never import each other in a circle. `catalog()` also loads every
stage producer (PRODUCER_MODULES) and lists each spec id with its level, title, source and producers:
`nxport rules` prints it, and tests/test_findings.py fails when a spec id has no producer.
"""

from __future__ import annotations

import fnmatch
import importlib
import time
from dataclasses import dataclass

import nxport.conventions.checking.rules  # noqa: F401  registers every rule family
from nxport.conventions.checking.context import ModelContext
from nxport.conventions.checking.findings import Finding
from nxport.conventions import spec
from nxport.conventions.checking.registry import Producer, Rule, finding, registered_producers, registered_rules

# Modules that declare a stage producer (registry.producer): imported by load_producers so a listing
# sees them all without running a check. A new stage producer adds its module here.
PRODUCER_MODULES = (
    "nxport.conventions.checking.checker",
    "nxport.conventions.checking.runtime",
    "nxport.conventions.checking.detection_runtime",
    "nxport.conventions.checking.bounded_runtime",
    "nxport.conventions._reference.runtime",
    "nxport.conventions._reference.sclblonnx_opinion",
    "nxport.conventions.targets.preflight",
    "nxport.conventions.targets._oracles",
)


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
    seconds = ctx.rule_seconds
    for r in list_rules(profile=ctx.profile):
        started = time.perf_counter()
        findings.extend(run_rule(r, ctx))
        seconds[r.rule_id] = round(seconds.get(r.rule_id, 0.0) + time.perf_counter() - started, 4)
        if r.rule_id not in checked:
            checked.append(r.rule_id)
    return findings, checked


def load_producers() -> list[Producer]:
    """Every declared stage producer (imports PRODUCER_MODULES: onnx and numpy, no onnxruntime session)."""
    for module in PRODUCER_MODULES:
        importlib.import_module(module)
    return registered_producers()


@dataclass(frozen=True)
class RuleEntry:
    """One rule id as `nxport rules` shows it."""

    rule_id: str
    level: str  # the spec's level; a finding may report a lower one (e.g. A3 INFO when a run is skipped)
    title: str
    source: str
    producers: tuple[str, ...]  # "rule <function>" for static checks, else the stage producer's name
    background: str = ""  # a spec fact no check produces: why (the spec's "background" field)

    def to_dict(self) -> dict:
        return {"rule_id": self.rule_id, "level": self.level, "title": self.title, "source": self.source,
                "producers": list(self.producers), **({"background": self.background} if self.background else {})}

    def format(self) -> str:
        made_by = ", ".join(self.producers) or f"none (background: {self.background})"
        return f"{self.rule_id:20} {self.level:6} {self.title}\n{'':27}source: {self.source}\n{'':27}producer: {made_by}"


def producers_by_spec_id() -> dict[str, list[str]]:
    """Spec id (T ids as their T-<target>-<kind> template) -> who emits it."""
    by_id: dict[str, list[str]] = {}
    for r in registered_rules():
        by_id.setdefault(spec.spec_key(r.rule_id), []).append(f"rule {r.name}")
    # Sorted by name: import order differs between a CLI run and a test worker, a listing must not.
    for p in sorted(load_producers(), key=lambda p: p.name):
        for rule_id in p.rule_ids:
            by_id.setdefault(rule_id, []).append(p.name)
    return by_id


def catalog(pattern: str = "*") -> list[RuleEntry]:
    """Every rule id matching `pattern` (fnmatch, case-sensitive): the spec's ids in spec order, then each
    target's T-<target>-<kind> ids (the spec describes each kind once; findings carry the target's name)."""
    from nxport.conventions.targets import list_targets

    by_id = producers_by_spec_id()
    keys = spec.rule_ids()
    plain = [k for k in keys if spec.TARGET_PLACEHOLDER not in k]
    per_target = [k.replace(spec.TARGET_PLACEHOLDER, target) for target in list_targets()
                  for k in keys if spec.TARGET_PLACEHOLDER in k]
    entries = []
    for rule_id in plain + per_target:
        if fnmatch.fnmatchcase(rule_id, pattern):
            data = spec.rule_spec(rule_id)
            entries.append(RuleEntry(rule_id, data["level"], data["title"], data["source"],
                                     tuple(by_id.get(spec.spec_key(rule_id), ())), data.get("background", "")))
    return entries
