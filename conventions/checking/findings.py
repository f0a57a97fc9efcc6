"""What every producer reports: findings with a level, and the one report type that collects them.

A CheckReport is one file's result, whoever produced its findings (the conformance checker, an NPU
`--target` preflight, a batch run with ignores); its exit code follows one rule (`exit_for`).
Findings are built by `checking.registry.finding`, which looks the id up in the spec.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol


class Verdict(Protocol):
    """A per-target preflight verdict (targets.preflight.TargetVerdict; the checking layer never imports it)."""

    def to_dict(self) -> dict: ...


class Level(enum.Enum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    INFO = "INFO"


_LEVEL_ORDER = {Level.MUST: 0, Level.SHOULD: 1, Level.INFO: 2}


class FailOn(str, enum.Enum):
    """The lowest level that fails the run (`--fail-on`)."""

    MUST = "must"
    SHOULD = "should"
    INFO = "info"

    def levels(self) -> tuple[Level, ...]:
        order = (Level.MUST, Level.SHOULD, Level.INFO)
        return order[: order.index(Level[self.name]) + 1]


@dataclass(frozen=True)
class Finding:
    rule_id: str
    level: Level
    message: str
    fix: str

    def format(self) -> str:
        return f"[{self.level.value}] {self.rule_id} {self.message}  fix: {self.fix}"

    def to_dict(self) -> dict:
        return {"rule_id": self.rule_id, "level": self.level.value, "message": self.message, "fix": self.fix}


def _rule_sort_key(rule_id: str) -> tuple[str, int]:
    # "B10" must sort after "B9": compare the family letter, then the number.
    digits = "".join(ch for ch in rule_id[1:] if ch.isdigit())
    return rule_id[:1], int(digits or 0)


@dataclass
class Ignored:
    finding: Finding
    reason: str


@dataclass
class CheckReport:
    source: str  # the file's path (or a label for bytes / a ModelProto)
    readable: bool = True
    findings: list[Finding] = field(default_factory=list)  # after ignores
    rules_checked: list[str] = field(default_factory=list)
    spec_version: str = ""
    profile: str = "image"
    runtime: dict = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)  # findings a config or --ignore set aside, with why
    seconds: float = 0.0  # wall clock of the whole check (batch runs)
    slowest: str = ""  # "B4 0.12 s": the stage or rule that took longest
    preflight: list[Verdict] | None = None  # an NPU --target run: its per-target verdicts

    @property
    def path(self) -> str:
        return self.source

    def count(self, level: Level) -> int:
        return sum(1 for f in self.findings if f.level is level)

    @property
    def must_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.MUST]

    def failing(self, fail_on: FailOn = FailOn.MUST) -> list[Finding]:
        return [f for f in self.findings if f.level in fail_on.levels()]

    def exit_for(self, fail_on: FailOn = FailOn.MUST) -> int:
        """The one exit rule: 2 unreadable, 1 a finding at or above `fail_on`, else 0."""
        if not self.readable:
            return 2
        return 1 if self.failing(fail_on) else 0

    @property
    def exit_code(self) -> int:
        return self.exit_for(FailOn.MUST)

    @property
    def conformant(self) -> bool:
        return self.exit_code == 0

    def status(self, fail_on: FailOn = FailOn.MUST) -> str:
        """PASS / FAIL / UNREADABLE: the batch formats' one-word verdict."""
        return {0: "PASS", 1: "FAIL", 2: "UNREADABLE"}[self.exit_for(fail_on)]

    def file_details(self) -> dict:
        """What the batch JSON adds per file: the verdicts of a preflight run, else the checker's context."""
        if self.preflight is not None:
            return {"npu_preflight": [v.to_dict() for v in self.preflight]}
        return {"profile": self.profile, "spec_version": self.spec_version, "runtime": self.runtime}

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (_LEVEL_ORDER[f.level], _rule_sort_key(f.rule_id)))

    def verdict(self) -> str:
        if self.conformant:
            return "CONFORMANT"
        counts = f"NOT CONFORMANT: {self.count(Level.MUST)} MUST, {self.count(Level.SHOULD)} SHOULD"
        return counts if self.readable else f"{counts} (unreadable file)"

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "readable": self.readable,
            "conformant": self.conformant,
            "exit_code": self.exit_code,
            "verdict": self.verdict(),
            "spec_version": self.spec_version,
            "profile": self.profile,
            "rules_checked": list(self.rules_checked),
            "counts": {level.value: self.count(level) for level in Level},
            "findings": [f.to_dict() for f in self.sorted_findings()],
            "runtime": self.runtime,
        }

    def format_text(self) -> str:
        header = f"{self.source}: Nx conventions {self.spec_version}, profile {self.profile}"
        lines = [header] + [f.format() for f in self.sorted_findings()]
        lines.append(self.verdict())
        return "\n".join(lines)
