"""The Nx conventions as versioned data (rule ids, levels, default fixes) and the sclblonnx whitelist.

Rules live in JSON so that the checker, the docs and the exporter's error messages read one source.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

_HERE = Path(__file__).parent


@functools.cache
def load_spec() -> dict:
    with open(_HERE / "nx_conventions.json", encoding="utf-8") as fh:
        return json.load(fh)


def spec_version() -> str:
    return load_spec()["spec_version"]


TARGET_PREFIX = "T-"
TARGET_PLACEHOLDER = "<target>"


def spec_key(rule_id: str) -> str:
    """The spec entry a rule id is described by: itself, or for an NPU preflight id `T-rknn-op` the
    per-target template `T-<target>-op` (targets are data in conventions/targets/, not spec entries).
    Target names may hold '-' (ryzen-ai), kinds never do: the kind is what follows the last '-'."""
    if rule_id.startswith(TARGET_PREFIX) and rule_id.count("-") >= 2:
        return f"{TARGET_PREFIX}{TARGET_PLACEHOLDER}-{rule_id.rsplit('-', 1)[1]}"
    return rule_id


def rule_spec(rule_id: str) -> dict:
    """The spec entry of `rule_id`: level, title, fix and source (the rule's own, else its family's).
    KeyError naming the known ids for an id the spec lacks."""
    data = load_spec()
    rules = data["rules"]
    key = spec_key(rule_id)
    if key not in rules:
        raise KeyError(f"unknown rule id {rule_id!r}; known: {', '.join(rules)}")
    entry = rules[key]
    source = entry.get("source") or data["rule_sources"][key[:1]]
    if key != rule_id:  # T-rknn-op: the source is that target's profile
        source = source.replace(TARGET_PLACEHOLDER, rule_id[len(TARGET_PREFIX):rule_id.rindex("-")])
    return {**entry, "source": source}


def rule_ids() -> list[str]:
    """Every id the spec defines, in spec order (T ids as their `T-<target>-<kind>` templates)."""
    return list(load_spec()["rules"])


def limit(name: str):
    return load_spec()["limits"][name]


@functools.cache
def sclblonnx_ops() -> frozenset[str]:
    with open(_HERE / "sclblonnx_ops.json", encoding="utf-8") as fh:
        return frozenset(json.load(fh)["operators"])
