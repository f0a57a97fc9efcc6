"""The graph doc_string that carries the runtime's normalization (rules C1-C3).

`{"means": [r, g, b], "vars": [r, g, b]}` on the 0..255 pixel scale; `vars` holds standard deviations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Normalization:
    means: tuple[float, ...]
    vars: tuple[float, ...]

    @classmethod
    def from_unit_scale(cls, mean, std) -> "Normalization":
        """From timm / HF style mean/std on the 0..1 scale."""
        return cls(tuple(_round(m * 255.0) for m in mean), tuple(_round(s * 255.0) for s in std))

    def to_doc_string(self) -> str:
        return json.dumps({"means": list(self.means), "vars": list(self.vars)})

    @classmethod
    def identity(cls, channels: int = 3) -> "Normalization":
        return cls((0.0,) * channels, (1.0,) * channels)


def _round(value: float) -> float:
    # 0.485 * 255 is 123.67499999999998 in binary floating point; the spec writes 123.675.
    return round(float(value), 6)


class DocStringError(ValueError):
    """The doc_string is missing or not the expected JSON; the message says what is wrong."""


def parse_doc_string(doc_string: str) -> Normalization:
    if not doc_string or not doc_string.strip():
        raise DocStringError("graph.doc_string is empty")
    try:
        data = json.loads(doc_string)
    except json.JSONDecodeError as exc:
        raise DocStringError(f"graph.doc_string is not JSON ({exc.msg} at char {exc.pos})") from exc
    except RecursionError as exc:  # "[[[[..." 200,000 deep: json recurses per level
        raise DocStringError("graph.doc_string is JSON nested too deeply to read") from exc
    if not isinstance(data, dict):
        raise DocStringError(f"graph.doc_string JSON is a {type(data).__name__}, not an object")
    values = {}
    for key in ("means", "vars"):
        if key not in data:
            raise DocStringError(f"graph.doc_string JSON has no {key!r} key (keys: {sorted(data)})")
        seq = data[key]
        if not isinstance(seq, list) or not seq or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in seq
        ):
            raise DocStringError(f"{key!r} must be a non-empty list of numbers, got {seq!r}")
        values[key] = tuple(float(v) for v in seq)
    return Normalization(values["means"], values["vars"])
