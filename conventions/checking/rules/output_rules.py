"""D0-D5 and E1-E3: output names select the Nx post-processing; class names live inside them."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import onnx

from nxport.conventions.checking.context import ModelContext, TensorInfo
from nxport.conventions.checking.findings import Level
from nxport.conventions.kinds import ArtifactKind, all_kinds, kind_of
from nxport.conventions.names import ParsedName, is_decimal_id
from nxport.conventions.checking.registry import finding, rule

BOTH = ("image", "text")
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
    kind = kind_of(parsed.kind)
    leading_keys = [key for key, _ in kind.leading_pairs] if kind else []
    while entries and leading_keys and entries[0].key == leading_keys[0]:  # `format:xyxysc` is D3's
        entries, leading_keys = entries[1:], leading_keys[1:]
    return entries, leading


def _class_outputs(ctx: ModelContext):
    for t in ctx.outputs:
        parsed = ctx.parsed_outputs[t.name]
        kind = kind_of(parsed.kind)
        if kind is not None and kind.carries_labels and parsed.body:
            yield t, parsed


def _short(name: str, limit: int = 60) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


@rule("D0", profiles=BOTH)
def output_name_syntax(ctx: ModelContext):
    """`<kind>-<k>:<v>;...` with no trailing ';' for the known kinds."""
    for t in ctx.outputs:
        parsed = ctx.parsed_outputs[t.name]
        kind = kind_of(parsed.kind)
        if kind is None:
            continue
        for problem in parsed.problems:
            yield finding("D0", f"output {_short(t.name)!r}: {problem}; expected `<kind>-<k1>:<v1>;<k2>:<v2>`")
        if kind.pairs_only and parsed.orphans:
            texts = ", ".join(repr(text) for _, text in parsed.orphans)
            yield finding("D0", f"output {t.name!r}: segments {texts} are not `key:value` pairs")


@rule("D1")
def has_nx_output(ctx: ModelContext):
    """At least one output of a kind Nx post-processes (`scores-`, `bboxes-`); embedding-only: INFO."""
    selecting = [k for k in all_kinds() if k.selects_postprocessing]
    wanted = " or ".join(f"`{k.prefix}...`" for k in selecting)
    kinds = {p.kind for p in ctx.parsed_outputs.values()}
    if kinds & {k.name for k in selecting}:
        return
    names = ", ".join(repr(_short(t.name)) for t in ctx.outputs)
    if "embedding" in kinds:
        yield finding("D1", f"no {'/'.join(k.prefix for k in selecting)} output (outputs: {names}); Nx has no "
                      "built-in post-processing for embeddings and passes them raw to external post-processors",
                      level=Level.INFO, fix="nothing to do for an embedding artifact (project extension D5)")
        return
    yield finding("D1", f"no output named {wanted} (outputs: {names}); Nx selects its "
                  "post-processing by output name")


def _declaration_rule(kind: ArtifactKind) -> None:
    """Register `<kind>_output` under the kind's rule id: the kind's own declaration checks, per output."""
    level = Level(kind.violation_level) if kind.violation_level else None

    def check(ctx: ModelContext):
        outputs = ctx.outputs_of_kind(kind.name)
        if ctx.profile in kind.required_by_profiles and not outputs:
            names = ", ".join(repr(t.name) for t in ctx.outputs)
            yield finding(kind.rule_id, f"{ctx.profile} tower has no `{kind.prefix}...` output (outputs: {names})",
                          level=level or Level.MUST)
        for t, parsed in outputs:
            for problem in kind.check_declaration(t, parsed):
                yield finding(kind.rule_id, problem.message, level=level, fix=problem.fix)
            yield from _sibling_labels(ctx, kind, t, parsed, level)

    check.__name__ = check.__qualname__ = f"{kind.name}_output"
    check.__doc__ = kind.declaration_doc
    rule(kind.rule_id, profiles=kind.profiles)(check)


def _sibling_labels(ctx: ModelContext, kind: ArtifactKind, t: TensorInfo, parsed: ParsedName, level):
    """An output that repeats a sibling's classes (alarm- after scores-) must list the same ids and labels."""
    siblings = ctx.outputs_of_kind(kind.same_labels_as) if kind.same_labels_as else []
    if not siblings:
        return
    sibling_t, sibling = siblings[0]
    ours, theirs = kind.class_pairs(parsed), kind_of(sibling.kind).class_pairs(sibling)
    if ours != theirs:
        first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        yield finding(kind.rule_id, f"{kind.name} output {_short(t.name)!r} lists {len(ours)} classes and "
                      f"{_short(sibling_t.name)!r} lists {len(theirs)}; they differ from entry {first} on "
                      f"({ours[first] if first < len(ours) else None} vs {theirs[first] if first < len(theirs) else None})",
                      level=level, fix=f"name the {kind.name} output with the {sibling.kind} output's ids and labels")


for _kind in sorted(all_kinds(), key=lambda k: k.rule_id):  # D2, D3, D4, D5: the order the checker reports
    _declaration_rule(_kind)


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
    """Ids unique; for kinds whose ids follow the shape (scores, alarm) exactly 0..C-1 in order, C from (1, C)."""
    for t, parsed in _class_outputs(ctx):
        entries, leading = class_entries(parsed)
        ids = [int(e.key) for e in entries if is_decimal_id(e.key)]
        label = _short(t.name)
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            yield finding("E3", f"output {label!r}: duplicate class ids {duplicates}")
        # Entries E1 could not read make the id list partial; order and count would only echo E1.
        if not kind_of(parsed.kind).ids_follow_shape or leading or len(ids) != len(entries):
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
