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


def rule_spec(rule_id: str) -> dict:
    rules = load_spec()["rules"]
    if rule_id not in rules:
        raise KeyError(f"unknown rule id {rule_id!r}; known: {', '.join(rules)}")
    return rules[rule_id]


def limit(name: str):
    return load_spec()["limits"][name]


@functools.cache
def sclblonnx_ops() -> frozenset[str]:
    with open(_HERE / "sclblonnx_ops.json", encoding="utf-8") as fh:
        return frozenset(json.load(fh)["operators"])
