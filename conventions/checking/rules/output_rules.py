"""D0-D5 and E1-E3: output names select the Nx post-processing; class names live inside them."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import onnx

from nxport.conventions.checking.context import ModelContext, TensorInfo
from nxport.conventions.checking.findings import Level
from nxport.conventions.names import KNOWN_KINDS, ParsedName, is_decimal_id
from nxport.conventions.checking.registry import finding, rule

BOTH = ("image", "text")
CLASS_KINDS = ("scores", "bboxes", "alarm")
EMBEDDING_KEYS = ("dim", "norm", "pool")
EMBEDDING_NORMS = ("l2", "none")
FLOAT = onnx.TensorProto.FLOAT


@dataclass
class ClassEntry:
    key: str
    name: str
    spill: list[str] = field(default_factory=list)  # segments split off the name by a ';' inside it

    @property
    def full_name(self) -> str:
        return ";".join([self.name, *self.spill])


def class_entries(parsed: ParsedName) -> tuple[list[ClassEntry], list[str]]:
    """Class entries in order, and leading segments that have no `<id>:` at all.

    Nx cannot escape ';', so a segment without ':' right after a pair is the tail of the previous
    class name: re-attaching it lets E2 name the class instead of E1 blaming a phantom entry.
    """
    entries: list[ClassEntry] = []
    leading: list[str] = []
    body = parsed.body[:-1] if parsed.body.endswith(";") else parsed.body  # trailing ';' is D0's
    for segment in body.split(";"):
        if ":" in segment:
            key, name = segment.split(":", 1)
            entries.append(ClassEntry(key, name))
        elif entries:
            entries[-1].spill.append(segment)
        else:
            leading.append(segment)
    if parsed.kind == "bboxes" and entries and entries[0].key == "format":
        entries = entries[1:]
    return entries, leading


def _class_outputs(ctx: ModelContext):
    for t in ctx.outputs:
        parsed = ctx.parsed_outputs[t.name]
        if parsed.kind in CLASS_KINDS and parsed.body:
            yield t, parsed


def _short(name: str, limit: int = 60) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


@rule("D0", profiles=BOTH)
def output_name_syntax(ctx: ModelContext):
    """`<kind>-<k>:<v>;...` with no trailing ';' for the known kinds."""
    for t in ctx.outputs:
        parsed = ctx.parsed_outputs[t.name]
        if parsed.kind not in KNOWN_KINDS:
            continue
        for problem in parsed.problems:
            yield finding("D0", f"output {_short(t.name)!r}: {problem}; expected `<kind>-<k1>:<v1>;<k2>:<v2>`")
        if parsed.kind == "embedding" and parsed.orphans:
            texts = ", ".join(repr(text) for _, text in parsed.orphans)
            yield finding("D0", f"output {t.name!r}: segments {texts} are not `key:value` pairs")


@rule("D1")
def has_nx_output(ctx: ModelContext):
    """At least one `scores-` or `bboxes-` output (embedding-only artifacts: INFO)."""
    kinds = {p.kind for p in ctx.parsed_outputs.values()}
    if kinds & {"scores", "bboxes"}:
        return
    names = ", ".join(repr(_short(t.name)) for t in ctx.outputs)
    if "embedding" in kinds:
        yield finding("D1", f"no scores-/bboxes- output (outputs: {names}); Nx has no built-in "
                      "post-processing for embeddings and passes them raw to external post-processors",
                      level=Level.INFO, fix="nothing to do for an embedding artifact (project extension D5)")
        return
    yield finding("D1", f"no output named `scores-...` or `bboxes-...` (outputs: {names}); Nx selects its "
                  "post-processing by output name")


def _shape_problem(t: TensorInfo, expected: str) -> str | None:
    """Problems with a (1, C) declaration; `expected` names the allowed shape for the message."""
    if t.shape is None:
        return f"declares no shape; expected {expected}"
    if t.rank != 2 or t.shape[0] != 1 or not isinstance(t.shape[1], int) or t.shape[1] <= 0:
        return f"has shape {t.shape}; expected static {expected}"
    return None


@rule("D2")
def scores_output(ctx: ModelContext):
    """scores-: float32, static shape (1, C)."""
    for t, _ in ctx.outputs_of_kind("scores"):
        if t.elem_type != FLOAT:
            yield finding("D2", f"scores output {_short(t.name)!r} is {t.dtype_name}; expected float32")
        problem = _shape_problem(t, "(1, C)")
        if problem:
            yield finding("D2", f"scores output {_short(t.name)!r} {problem}")


@rule("D3")
def bboxes_output(ctx: ModelContext):
    """bboxes-format:xyxysc;...: float32, rank 2, (N, 6)."""
    for t, parsed in ctx.outputs_of_kind("bboxes"):
        label = _short(t.name)
        if t.elem_type != FLOAT:
            yield finding("D3", f"bboxes output {label!r} is {t.dtype_name}; expected float32")
        if t.rank != 2 or t.shape[-1] != 6:
            yield finding("D3", f"bboxes output {label!r} has shape {t.shape}; expected (N, 6) rows "
                          "[x1, y1, x2, y2, score, class_id]")
        if not parsed.pairs or parsed.pairs[0] != ("format", "xyxysc"):
            first = f"{parsed.pairs[0][0]}:{parsed.pairs[0][1]}" if parsed.pairs else "nothing"
            yield finding("D3", f"bboxes output {label!r} starts with {first!r}; expected 'format:xyxysc' first")


@rule("D4")
def alarm_output(ctx: ModelContext):
    """alarm-: static shape (1, C)."""
    for t, _ in ctx.outputs_of_kind("alarm"):
        problem = _shape_problem(t, "(1, C)")
        if problem:
            yield finding("D4", f"alarm output {_short(t.name)!r} {problem}")


def _embedding_key_problems(parsed: ParsedName) -> tuple[list[str], int | None]:
    keys = dict(parsed.pairs)
    problems = [f"missing key {k!r}" for k in EMBEDDING_KEYS if k not in keys]
    dim = None
    if "dim" in keys:
        if is_decimal_id(keys["dim"]) and int(keys["dim"]) > 0:
            dim = int(keys["dim"])
        else:
            problems.append(f"dim {keys['dim']!r} is not a positive integer")
    if "norm" in keys and keys["norm"] not in EMBEDDING_NORMS:
        problems.append(f"norm {keys['norm']!r} is not one of {', '.join(EMBEDDING_NORMS)}")
    return problems, dim


@rule("D5", profiles=BOTH)
def embedding_output(ctx: ModelContext):
    """embedding-dim:<D>;norm:<l2|none>;pool:<name>, float32 (1, D)."""
    # D5 is INFO background in the spec, but a malformed embedding name breaks the project's own
    # consumers (the image/text towers must agree on dim and norm), so violations are MUST.
    embeddings = ctx.outputs_of_kind("embedding")
    if ctx.profile == "text" and not embeddings:
        names = ", ".join(repr(t.name) for t in ctx.outputs)
        yield finding("D5", f"text tower has no `embedding-...` output (outputs: {names})", level=Level.MUST)
    for t, parsed in embeddings:
        problems, dim = _embedding_key_problems(parsed)
        if t.elem_type != FLOAT:
            problems.append(f"dtype is {t.dtype_name}, expected float32")
        expected = f"(1, {dim})" if dim else "(1, D)"
        shape_problem = _shape_problem(t, expected)
        if shape_problem:
            problems.append(shape_problem)
        elif dim is not None and t.shape[1] != dim:
            problems.append(f"has shape {t.shape} but the name says dim:{dim}; expected {expected}")
        for problem in problems:
            yield finding("D5", f"embedding output {t.name!r}: {problem}", level=Level.MUST)


@rule("E1")
def class_pairs_syntax(ctx: ModelContext):
    """Every class entry is `<decimal id>:<name>`."""
    for t, parsed in _class_outputs(ctx):
        entries, leading = class_entries(parsed)
        for text in leading:
            yield finding("E1", f"output {_short(t.name)!r}: segment {text!r} has no `<id>:` prefix; "
                          "expected `<decimal id>:<name>`")
        for entry in entries:
            if not is_decimal_id(entry.key):
                yield finding("E1", f"output {_short(t.name)!r}: class key {entry.key!r} "
                              f"(name {_short(entry.full_name)!r}) is not a decimal id like 0, 1, 17")
            elif not entry.full_name:
                yield finding("E1", f"output {_short(t.name)!r}: class {entry.key} has an empty name")
        if not entries and not leading:
            yield finding("E1", f"output {_short(t.name)!r} lists no classes")


@rule("E2")
def class_name_characters(ctx: ModelContext):
    """No ';' or line break (MUST), no ':' (SHOULD) inside class names."""
    for t, parsed in _class_outputs(ctx):
        entries, _ = class_entries(parsed)
        for entry in entries:
            where = f"output {_short(t.name)!r}: class {entry.key}"
            if entry.spill:
                yield finding("E2", f"{where} name {entry.full_name!r} contains ';' (Nx splits it into "
                              f"{1 + len(entry.spill)} segments)")
            if "\n" in entry.full_name or "\r" in entry.full_name:
                yield finding("E2", f"{where} name {entry.full_name!r} contains a line break")
            unprintable = unprintable_characters(entry.full_name)
            if unprintable:
                yield finding("E2", f"{where} name {entry.full_name[:80]!r} contains unprintable characters "
                              f"{', '.join(unprintable)}; a label is shown to people and parsed by post-processors",
                              fix="rename the class with printable characters only (strip control, format and "
                              "separator characters such as NUL, ESC, U+202E, U+2028)")
            if ":" in entry.full_name:
                yield finding("E2", f"{where} name {entry.full_name!r} contains ':'", level=Level.SHOULD)


@rule("E3")
def class_ids(ctx: ModelContext):
    """Ids unique; for scores/alarm exactly 0..C-1 in order with C from the output shape."""
    for t, parsed in _class_outputs(ctx):
        entries, leading = class_entries(parsed)
        ids = [int(e.key) for e in entries if is_decimal_id(e.key)]
        label = _short(t.name)
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            yield finding("E3", f"output {label!r}: duplicate class ids {duplicates}")
        # Entries E1 could not read make the id list partial; order and count would only echo E1.
        if parsed.kind == "bboxes" or leading or len(ids) != len(entries):
            continue
        if ids != list(range(len(ids))) and not duplicates:
            yield finding("E3", f"output {label!r}: class ids {_preview(ids)} are not 0..{len(ids) - 1} in order")
        count = t.shape[1] if t.rank == 2 and isinstance(t.shape[1], int) else None
        if count is not None and len(entries) != count:
            yield finding("E3", f"output {label!r} names {len(entries)} classes but its shape {t.shape} "
                          f"has C={count}; the counts must be equal")


# Unicode categories that print nothing or move the text: controls (NUL, ESC, tab), format characters
# (bidi overrides), line/paragraph separators, surrogates, private use, unassigned. '\n' and '\r' are
# reported as line breaks above; ZWJ/ZWNJ (Cf) stay allowed because emoji and Indic scripts need them.
UNPRINTABLE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")
ALLOWED_FORMAT = {"\u200c", "\u200d", "\n", "\r"}


def unprintable_characters(name: str) -> list[str]:
    found = {f"U+{ord(ch):04X}" for ch in name
             if ch not in ALLOWED_FORMAT and unicodedata.category(ch) in UNPRINTABLE_CATEGORIES}
    return sorted(found)


def _preview(ids: list[int], limit: int = 12) -> str:
    shown = ", ".join(map(str, ids[:limit]))
    return f"[{shown}{', ...' if len(ids) > limit else ''}]"
