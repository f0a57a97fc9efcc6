"""What one Nx output kind is, as data every stage reads (in the spirit of optimum's OnnxConfig).

A kind knows its name grammar, the D rule that judges it, the optional inputs it brings and how a
caller feeds them by default, how its declaration and its computed values are checked, how export
parity and INT8 agreement are measured, and which serving route answers for it. The checker, the
contract, calibration and serving iterate over the registry (`conventions.kinds`); none of them
lists kinds by name.

Kinds import no rule engine: checks return `Problem`s, and the checker turns them into findings
under `rule_id`, so the format layer stays below the checker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import numpy as np

from nxport.conventions.names import ParsedName


class Declared(Protocol):
    """The declaration of a graph tensor (conventions.checking.context.TensorInfo satisfies it)."""

    name: str
    elem_type: int
    shape: list | None

    @property
    def rank(self) -> int | None: ...

    @property
    def dtype_name(self) -> str: ...


@dataclass(frozen=True)
class Problem:
    """One violation of a kind's rule; the checker reports it under the kind's rule id."""

    message: str
    fix: str | None = None  # None: the spec's fix for the rule


class Int8Metric(str, Enum):
    """How an INT8 artifact is compared with its FP32 origin (calibration's headline number)."""

    TOP1 = "top1_agreement"
    COSINE = "cosine_mean"
    BOX_MATCH = "box_match"


class ParityMetric(str, Enum):
    """How an export is compared with PyTorch on the parity photos."""

    MAX_ABS_AND_TOP1 = "max_abs_diff+top1"  # probabilities: close, and the same best class
    COSINE = "cosine"
    EXACT = "exact"  # 0/1 flags: every flag equal
    BOX_MATCH = "box_match"


@dataclass(frozen=True)
class OptionalInput:
    """An input Nx may feed beside the image (rule B9), and what a caller feeds when it has no value."""

    name: str
    default_feed: Callable[[tuple[int, ...], np.dtype], np.ndarray]
    meaning: str


@dataclass(frozen=True)
class InputKind:
    """A non-image input that selects a profile (the `tokens-` ids of a CLIP text tower)."""

    name: str
    profile: str
    default_feed: Callable[[tuple[int, ...], np.dtype], np.ndarray]
    meaning: str


def _no_problems(*_args) -> Iterable[Problem]:
    return ()


@dataclass(frozen=True)
class ArtifactKind:
    name: str  # the prefix before '-': `scores` for `scores-0:cat;...`
    rule_id: str  # the D rule that judges declarations and values
    grammar: str  # the name grammar, as help texts and messages show it
    priority: int  # which output a consumer serves or measures when a graph has several (lowest first)
    carries_labels: bool = False  # `<id>:<name>` class entries (rules E1-E3)
    leading_pairs: tuple[tuple[str, str], ...] = ()  # pairs before the class entries (`format:xyxysc`)
    ids_follow_shape: bool = False  # E3: ids exactly 0..C-1 with C from the (1, C) shape
    pairs_only: bool = False  # every segment must be `key:value` (D0), else E1/E2 read the class entries
    selects_postprocessing: bool = False  # Nx picks a built-in post-processing by this kind (D1)
    required_by_profiles: tuple[str, ...] = ()  # a profile whose artifacts must have this output
    profiles: tuple[str, ...] = ("image",)  # profiles whose artifacts may carry it
    violation_level: str | None = None  # overrides the spec's level for this kind's findings (D5)
    optional_inputs: tuple[OptionalInput, ...] = ()
    parity_metric: ParityMetric | None = None
    int8_metric: Int8Metric | None = None  # None: calibration does not measure this kind
    route: str | None = None  # the serving route that answers for an artifact whose primary output it is
    rides_on: str | None = None  # a companion kind: served in the response of this kind's route
    same_labels_as: str | None = None  # a sibling kind whose ids and labels this output must repeat
    response_field: str | None = None  # the field a companion adds to each entry of that response
    report_fields: tuple[str, ...] = ()  # what an export report records about this output
    declaration_doc: str = ""
    check_declaration: Callable[[Declared, ParsedName], Iterable[Problem]] = field(default=_no_problems, repr=False)
    # (declaration, value, op that computes it) -> problems with what onnxruntime returned
    check_values: Callable[[Declared, np.ndarray, str | None], Iterable[Problem]] = field(default=_no_problems,
                                                                                        repr=False)

    @property
    def prefix(self) -> str:
        return f"{self.name}-"

    def class_pairs(self, parsed: ParsedName) -> list[tuple[str, str]]:
        """The class entries of a parsed name of this kind (leading pairs such as `format:` dropped)."""
        leading = {key for key, _ in self.leading_pairs}
        return [(k, v) for k, v in parsed.pairs if k not in leading]


FLOAT32 = 1  # onnx.TensorProto.FLOAT, without importing onnx into the format layer


def one_by_c_problem(t: Declared, expected: str = "(1, C)") -> str | None:
    """Problems with a (1, C) declaration; `expected` names the allowed shape for the message."""
    if t.shape is None:
        return f"declares no shape; expected {expected}"
    if t.rank != 2 or t.shape[0] != 1 or not isinstance(t.shape[1], int) or t.shape[1] <= 0:
        return f"has shape {t.shape}; expected static {expected}"
    return None


def float_row_problems(kind: str, t: Declared, expected_values: str) -> Iterator[Problem]:
    """The declaration every per-class kind shares: float32, static (1, C)."""
    if t.elem_type != FLOAT32:
        yield Problem(f"{kind} output {short(t.name)!r} is {t.dtype_name}; expected float32{expected_values}")
    problem = one_by_c_problem(t)
    if problem:
        yield Problem(f"{kind} output {short(t.name)!r} {problem}")


def short(name: str, limit: int = 60) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."
