"""`pip install .` gives a working nxport: every third-party import of the shipped packages is a declared
dependency (or an extra), and the wheel carries the packages and their data files under one import name.

The light install is tested for real: the wheel is built once, installed with its core dependencies only
into a fresh venv (from the local package registry), and that venv checks real ONNX files from a folder
holding its own core/, conventions/ and serving/ packages, while every command that needs an extra exits 2
naming it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
import tomllib
import zipfile
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("core", "conventions", "exporters", "calibration", "serving", "nxport")
# Not main-environment dependencies: detector weights and the AGPL ultralytics are optional (lazy imports
# behind a typed error); sclblonnx runs inside .venv-nx-reference (conventions/_reference/_sclblonnx_probe.py),
# onnxruntime_qnn inside .venv-npu-qnn (conventions/targets/_oracles/_qnn_probe.py).
OPTIONAL = {"ultralytics", "nudenet", "retinaface", "sclblonnx", "onnxruntime_qnn"}


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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel .` once for the module: what `pip install .` and pre-commit install. Built from a copy of
    the source tree: setuptools builds in place (`build/`), and a stale or concurrent build there (another
    test worker, an earlier `pip install .`) must neither break this one nor leak into the wheel."""
    import shutil

    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("source") / "nxport"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (built,) = out.glob("nxport-*.whl")
    return built


def test_the_wheel_carries_every_package_and_its_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    # One import name: a user's own core/ or serving/ package can neither shadow ours nor be shadowed.
    assert {n.split("/")[0] for n in names} == {"nxport", "nxport-0.1.0.dist-info"}
    for package in SHIPPED:
        assert (f"nxport/{package}/__init__.py" if package != "nxport" else "nxport/__init__.py") in names, package
    assert "nxport/conventions/spec/nx_conventions.json" in names
    assert any(n.startswith("nxport/conventions/targets/") and n.endswith(".json") for n in names)
    assert {"nxport/core/data/chelsea.png", "nxport/core/data/README.md"} <= names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "nxport = nxport.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_the_light_install_depends_on_the_onnx_stack_only():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert {_name(spec) for spec in project["dependencies"]} == LIGHT
    extras = project["optional-dependencies"]
    assert {"export", "calibrate", "serve", "all"} <= set(extras)
    assert "torch" in {_name(spec) for spec in extras["export"]}
    from nxport.core.extras import TORCH_VERSION, TORCHVISION_VERSION  # the CPU-wheel hint pins the same

    assert {f"torch=={TORCH_VERSION}", f"torchvision=={TORCHVISION_VERSION}"} <= set(extras["export"])
    readme = (REPO / "README.md").read_text()
    assert f"pip install torch=={TORCH_VERSION} torchvision=={TORCHVISION_VERSION} --index-url" in readme


def test_each_extra_module_is_a_distribution_of_that_extra():
    """core/extras.py names import names, pyproject.toml distributions: the two must not drift."""
    from nxport.core.extras import EXTRAS

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    distributions = packages_distributions()
    for extra in EXTRAS.values():
        declared = {_name(spec) for spec in extras[extra.name]}
        for module in extra.modules:
            dists = {_normal(d) for d in distributions.get(module, [])}
            assert dists & declared, f"{module} (distributions {sorted(dists)}) is not in [{extra.name}]"


def test_the_shipped_photo_is_scikit_images_chelsea():
    import hashlib

    import skimage.data

    from nxport.core.images import SHIPPED_PHOTO, chelsea

    digest = hashlib.sha256(SHIPPED_PHOTO.read_bytes()).hexdigest()
    assert digest == "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"  # skimage's registry
    assert (chelsea() == skimage.data.chelsea()).all()


LIGHT = {"onnx", "onnxruntime", "numpy", "pillow"}
HEAVY = ("torch", "torchvision", "timm", "transformers", "open-clip-torch", "scikit-image", "matplotlib", "triton")
LIGHT_LIMIT_MB = 600


def _normal(name: str) -> str:
    return name.lower().replace("_", "-")


def _name(spec: str) -> str:
    for sep in ";=<>![ ":
        spec = spec.split(sep)[0]
    return _normal(spec.strip())


@dataclass(frozen=True)
class LightInstall:
    bin: Path
    workdir: Path  # a user's project: its own core/, conventions/ and serving/ packages, and its models
    seconds: float
    megabytes: int
    packages: frozenset[str]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin / args[0]), *args[1:]], cwd=self.workdir, env=_outside_env(),
                              capture_output=True, text=True, timeout=300)

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(self.bin / args[0]), *args[1:]], cwd=self.workdir, env=_outside_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _outside_env() -> dict[str, str]:
    """The environment of a user outside this checkout: the tests' PYTHONPATH would let pip and Python
    find the checkout (and its egg-info) instead of what was installed."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _user_project(root: Path) -> Path:
    """A folder whose own packages share our layer names; importing any of them fails loudly."""
    for package in ("core", "conventions", "serving"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(f"raise ImportError('the user\'s own {package} package')\n")
    (root / "core" / "errors.py").write_text("")
    return root


@pytest.fixture(scope="module")
def light_install(wheel, tmp_path_factory) -> LightInstall:
    """`pip install nxport` (the wheel, no extras) into a fresh venv: timed and measured."""
    root = tmp_path_factory.mktemp("light")
    venv = root / "venv"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300, env=_outside_env())
    proc = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=600, env=_outside_env())
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    megabytes = int(subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True,
                                   check=True).stdout.split()[0])
    listed = subprocess.run([str(venv / "bin/python"), "-m", "pip", "list", "--format", "json"],
                            capture_output=True, text=True, check=True, env=_outside_env()).stdout
    packages = frozenset(_normal(p["name"]) for p in json.loads(listed))
    print(f"\nlight install: {megabytes} MB in {seconds:.1f} s (venv + pip install), packages {sorted(packages)}")
    return LightInstall(venv / "bin", _user_project(root / "project"), seconds, megabytes, packages)


def test_the_light_install_is_small_and_has_no_torch(light_install):
    assert light_install.megabytes < LIGHT_LIMIT_MB, f"{light_install.megabytes} MB"
    assert LIGHT | {"nxport"} <= light_install.packages
    assert not light_install.packages & set(HEAVY), sorted(light_install.packages & set(HEAVY))
    probe = light_install.run("python", "-c", "import importlib.util as u; print([m for m in "
                              "('torch', 'timm', 'transformers', 'skimage') if u.find_spec(m)])")
    assert probe.stdout.strip() == "[]", probe.stdout + probe.stderr


def test_the_light_install_checks_a_real_artifact_from_any_directory(light_install, lite0_artifact):
    """The real lite0 artifact, checked from a folder whose own core/ and serving/ would break a
    top-level import: conformant, with the runtime stage fed the photo nxport ships (no scikit-image)."""
    proc = light_install.run("nxport", "check", str(lite0_artifact), "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["conformant"] and report["runtime"]["input_source"] == "nxport.core.images.chelsea()"
    module = light_install.run("python", "-m", "nxport.conventions", str(lite0_artifact), "--target", "rknn")
    assert module.returncode == 0, module.stdout + module.stderr
    assert "rknn" in module.stdout and "runs fully" in module.stdout, module.stdout  # the NPU preflight


def test_the_light_install_fails_a_foreign_model_in_every_ci_format(light_install):
    """A raw Ultralytics export (nudenet's YOLOv8n, IR 10, dynamic input): MUST findings, exit 1."""
    import importlib.util

    spec = importlib.util.find_spec("nudenet")
    assert spec is not None, "pip install --no-deps nudenet==3.4.2 (setup.sh does)"
    model = Path(spec.origin).parent / "320n.onnx"
    text = light_install.run("nxport", "check", str(model))
    assert text.returncode == 1 and "[MUST] A2" in text.stdout and "[MUST] B4" in text.stdout, text.stdout
    sarif = light_install.run("python", "-m", "nxport.conventions", str(model), "--format", "sarif")
    assert sarif.returncode == 1, sarif.stderr
    assert {r["ruleId"] for r in json.loads(sarif.stdout)["runs"][0]["results"]} >= {"A2", "B4", "D1"}
    junit = light_install.run("nxport", "check", str(model), "--format", "junit", "--no-runtime")
    assert junit.returncode == 1 and "<failure" in junit.stdout, junit.stderr


# Every command that needs an extra, and the extra its error must name.
NEEDS_EXTRA = [
    (("nxport", "export", "classification", "--model", "resnet18", "--random-init"), "export"),
    (("nxport", "export", "embedding", "--model", "resnet18", "--random-init"), "export"),
    (("nxport", "export", "clip", "--model", "ViT-B-32", "--random-init"), "export"),
    (("nxport", "export", "detection", "--random-init", "--model", "yolov8n"), "export"),
    (("nxport", "export", "preconfigured", "tf_efficientnet_lite0"), "export"),
    (("nxport", "list-models", "--timm", "resnet*"), "export"),
    (("nxport", "calibrate", "model.onnx", "--images", "."), "calibrate"),
    (("python", "-m", "nxport.calibration", "model.onnx", "--images", "."), "calibrate"),
    (("nxport", "serve", "model.onnx"), "serve"),
    (("python", "-m", "nxport.serving", "model.onnx"), "serve"),
]


def test_a_command_that_needs_a_missing_extra_names_it(light_install):
    running = [(command, extra, light_install.start(*command)) for command, extra in NEEDS_EXTRA]  # startups overlap
    for command, extra, child in running:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 2, (command, out, err)
        assert "error: MissingExtraError:" in err and "Traceback" not in err, (command, err)
        assert f'pip install "nxport[{extra}]"' in err, (command, err)
        if extra == "export":  # how to skip the CUDA wheels
            assert "--index-url https://download.pytorch.org/whl/cpu" in err, err


def test_the_pre_commit_hook_installs_only_the_light_part():
    """pre-commit pip-installs this repository for a `language: python` hook: the light install, so the
    hook may add no heavy package of its own. (A real `language: python` run from a local clone: 218 MB,
    no torch; tests/test_ci_formats.py runs the hook's entry through pre-commit itself.)"""
    import yaml

    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["language"] == "python" and hook["entry"] == "python -m nxport.conventions"
    assert not {_name(spec) for spec in hook.get("additional_dependencies", [])} & set(HEAVY)
