"""`pip install .` gives a working nxport: every third-party import of the shipped packages is a declared
dependency (or an extra), and the wheel carries the packages and their data files."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("core", "conventions", "exporters", "calibration", "serving", "nxport")
# Not main-environment dependencies: detector weights and the AGPL ultralytics are optional (lazy imports
# behind a typed error); sclblonnx runs inside .venv-nx-reference (conventions/_reference/_sclblonnx_probe.py).
OPTIONAL = {"ultralytics", "nudenet", "retinaface", "sclblonnx"}


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    names = set()
    for spec in specs:
        name = spec.split(";")[0]
        for sep in "=<>![ ":
            name = name.split(sep)[0]
        names.add(name.strip().lower().replace("_", "-"))
    return names


def _third_party_imports() -> dict[str, str]:
    stdlib, ours = set(sys.stdlib_module_names), set(SHIPPED) | {"benchmarks"}
    found = {}
    for package in SHIPPED:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    tops = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top not in stdlib and top not in ours and top != "__future__":
                        found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_every_third_party_import_is_a_declared_dependency():
    distributions = packages_distributions()
    declared = _declared()
    missing = []
    for module, where in sorted(_third_party_imports().items()):
        if module in OPTIONAL:
            continue
        dists = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        if not dists & declared:
            missing.append(f"{module} (imported in {where}; distribution {sorted(dists)})")
    assert not missing, "declare in pyproject.toml:\n" + "\n".join(missing)


def test_the_wheel_carries_every_package_and_its_data(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("nxport-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in SHIPPED:
        assert f"{package}/__init__.py" in names, package
    assert "conventions/spec/nx_conventions.json" in names
    assert any(n.startswith("conventions/targets/") and n.endswith(".json") for n in names)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "nxport = nxport.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()
