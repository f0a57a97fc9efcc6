"""The architecture is the layout: each package imports only the layers below it, and no module
imports another in a circle (imports inside functions count: they are cycles that merely wait)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Lowest first. A module may import its own package and any package of a lower rank. Calibration sits
# above the exporters (a detector's network is cut and its tail re-attached with the exporters' code);
# serving above both (it serves what they write, with the exporters' CLIP tokenizer).
LAYERS = {"core": 0, "conventions": 1, "exporters": 2, "calibration": 3, "serving": 4, "nxport": 5, "benchmarks": 6}


# Installed, every layer but the benchmarks lives under the one import name `nxport` (setup.py maps the folders).
NAMESPACED = ("core", "conventions", "exporters", "calibration", "serving")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    parts = parts[:-1] if parts[-1] == "__init__" else parts
    return ".".join(["nxport", *parts] if parts[0] in NAMESPACED else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1] if parts[0] == "nxport" and len(parts) > 1 and parts[1] in NAMESPACED else parts[0]]


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == "nxport" and len(parts) > 1 and parts[1] in NAMESPACED else parts[0]


def _is_module(path: Path) -> bool:
    """Inside a package all the way down (scripts and stand-ins in plain folders are not modules)."""
    return all((parent / "__init__.py").is_file() for parent in path.parents if parent != REPO and REPO in parent.parents)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in LAYERS for p in sorted((REPO / package).rglob("*.py")) if _is_module(p)}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(target for target in (_resolve(n, modules) for n in names) if target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_modules():
    assert _find_cycle(import_graph()) is None, " -> ".join(_find_cycle(import_graph()))


def test_packages_import_only_lower_layers():
    upward = [f"{src} imports {dst}" for src, targets in import_graph().items() for dst in targets
              if _layer(dst) > _layer(src) or (_layer(dst) == _layer(src) and _package(dst) != _package(src))]
    assert not upward, "\n".join(upward)


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(n for n in _modules() if not n.endswith("__main__"))
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    proc = subprocess.run([sys.executable, "-c", code, *names], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_code_imports_the_layers_only_through_the_nxport_namespace():
    """`import core` would find a user's own core/ package first; only `nxport.core` is ours."""
    stray = []
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True).stdout.split()
    for path in (REPO / name for name in tracked):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            stray += [f"{path.relative_to(REPO)}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in NAMESPACED]
    assert not stray, "\n".join(stray)


def test_the_cycle_finder_finds_cycles():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
