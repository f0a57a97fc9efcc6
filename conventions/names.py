"""Nx output names: `<kind>-<k1>:<v1>;<k2>:<v2>` (rules D0, E1-E3) - formatting and parsing.

The exporters build names with the same module the checker parses them with, so the two cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KNOWN_KINDS = ("scores", "bboxes", "alarm", "embedding")
FORBIDDEN_IN_CLASS_NAMES = (";", "\n", "\r", ":")  # ':' is SHOULD NOT (E2); refused by the exporter
_DECIMAL_ID = re.compile(r"^(0|[1-9][0-9]*)$")


def format_pairs(kind: str, pairs: list[tuple[str, str]]) -> str:
    return f"{kind}-" + ";".join(f"{key}:{value}" for key, value in pairs)


def format_scores_name(labels: list[str]) -> str:
    return format_pairs("scores", [(str(i), name) for i, name in enumerate(labels)])


def format_bboxes_name(labels: list[str]) -> str:
    """`bboxes-format:xyxysc;0:<name>;...` (rule D3): rows [x1, y1, x2, y2, score, class_id]."""
    return format_pairs("bboxes", [("format", "xyxysc"), *((str(i), name) for i, name in enumerate(labels))])


def format_embedding_name(dim: int, norm: str, pool: str) -> str:
    return format_pairs("embedding", [("dim", str(dim)), ("norm", norm), ("pool", pool)])


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

    def class_pairs(self) -> list[tuple[str, str]]:
        """Pairs that are class entries (bboxes names start with a `format:` key)."""
        return [(k, v) for k, v in self.pairs if not (self.kind == "bboxes" and k == "format")]


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
