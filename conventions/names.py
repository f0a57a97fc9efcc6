"""Nx output names: `<kind>-<k1>:<v1>;<k2>:<v2>` (rules D0, E1-E3) - formatting and parsing.

The grammar shared by every kind. Each kind builds its own names (`conventions.kinds.<kind>.format_name`)
with `format_pairs`, and the checker parses them with `parse_output_name`, so the two cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FORBIDDEN_IN_CLASS_NAMES = (";", "\n", "\r", ":")  # ':' is SHOULD NOT (E2); refused by the exporter
_DECIMAL_ID = re.compile(r"^(0|[1-9][0-9]*)$")


def format_pairs(kind: str, pairs: list[tuple[str, str]]) -> str:
    return f"{kind}-" + ";".join(f"{key}:{value}" for key, value in pairs)


@dataclass
class ParsedName:
    """An output name split into kind and key:value pairs, with syntax problems collected."""

    raw: str
    kind: str | None  # None when the name has no '<kind>-' prefix
    pairs: list[tuple[str, str]] = field(default_factory=list)
    orphans: list[tuple[int, str]] = field(default_factory=list)  # segments without ':' (index, text)
    problems: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        return self.raw.split("-", 1)[1] if self.kind is not None else ""


def parse_output_name(name: str) -> ParsedName:
    if "-" not in name:
        return ParsedName(raw=name, kind=None)
    kind, body = name.split("-", 1)
    parsed = ParsedName(raw=name, kind=kind)
    if body == "":
        parsed.problems.append("nothing after the '-'")
        return parsed
    if body.endswith(";"):
        parsed.problems.append("trailing ';'")
        body = body[:-1]
    for index, segment in enumerate(body.split(";")):
        if ":" not in segment:
            parsed.orphans.append((index, segment))
            continue
        key, value = segment.split(":", 1)
        parsed.pairs.append((key, value))
    return parsed


def is_decimal_id(key: str) -> bool:
    return bool(_DECIMAL_ID.match(key))
