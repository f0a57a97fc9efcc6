"""What the checker reports: findings with a level, and the report that collects them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Level(enum.Enum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    INFO = "INFO"


_LEVEL_ORDER = {Level.MUST: 0, Level.SHOULD: 1, Level.INFO: 2}


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
class CheckReport:
    source: str
    readable: bool
    findings: list[Finding] = field(default_factory=list)
    rules_checked: list[str] = field(default_factory=list)
    spec_version: str = ""
    profile: str = "image"
    runtime: dict = field(default_factory=dict)

    def count(self, level: Level) -> int:
        return sum(1 for f in self.findings if f.level is level)

    @property
    def must_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.level is Level.MUST]

    @property
    def conformant(self) -> bool:
        return self.readable and not self.must_findings

    @property
    def exit_code(self) -> int:
        if not self.readable:
            return 2
        return 0 if self.conformant else 1

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
