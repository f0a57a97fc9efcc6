"""The registry of artifact kinds: one object per Nx output kind (and the `tokens-` input kind).

Every stage asks this registry: the checker's output rules and runtime stage, the contract,
calibration's metric, serving's routes. Adding a kind is its module plus one line in `_REGISTERED`.
"""

from __future__ import annotations

from nxport.conventions.kinds.alarm import ALARM
from nxport.conventions.kinds.base import ArtifactKind, InputKind, Int8Metric, OptionalInput, ParityMetric, Problem
from nxport.conventions.kinds.bboxes import BBOXES
from nxport.conventions.kinds.embedding import EMBEDDING
from nxport.conventions.kinds.scores import SCORES
from nxport.conventions.kinds.tokens import TOKENS

__all__ = ["ArtifactKind", "InputKind", "Int8Metric", "OptionalInput", "ParityMetric", "Problem", "all_kinds",
           "get_kind", "input_kind", "kind_of", "kind_names", "optional_input", "optional_input_names",
           "TEXT_INPUT"]

_REGISTERED: tuple[ArtifactKind, ...] = (SCORES, BBOXES, ALARM, EMBEDDING)
_KINDS: dict[str, ArtifactKind] = {kind.name: kind for kind in _REGISTERED}
_INPUT_KINDS: dict[str, InputKind] = {TOKENS.name: TOKENS}
TEXT_INPUT = TOKENS.name  # rule B2 for the text profile


def all_kinds() -> tuple[ArtifactKind, ...]:
    """Every output kind, in registration order."""
    return _REGISTERED


def kind_names() -> tuple[str, ...]:
    return tuple(_KINDS)


def get_kind(name: str) -> ArtifactKind:
    """The kind named `name`; KeyError naming the registered ones otherwise."""
    if name not in _KINDS:
        raise KeyError(f"unknown output kind {name!r}; registered: {', '.join(_KINDS)}")
    return _KINDS[name]


def kind_of(output_name_kind: str | None) -> ArtifactKind | None:
    """The kind of a parsed output name's prefix, or None for a name Nx does not know."""
    return _KINDS.get(output_name_kind) if output_name_kind else None


def input_kind(name: str) -> InputKind | None:
    return _INPUT_KINDS.get(name)


def optional_input(name: str) -> OptionalInput | None:
    """The optional input (rule B9) some kind declares under `name`."""
    return next((i for kind in _REGISTERED for i in kind.optional_inputs if i.name == name), None)


def optional_input_names() -> tuple[str, ...]:
    return tuple(i.name for kind in _REGISTERED for i in kind.optional_inputs)
