"""Which optional part of nxport a command needs, checked before any of it is imported.

`pip install nxport` is the light install: the contract, the checker, the NPU preflight and the CI
report formats on onnx + onnxruntime + numpy + pillow. Each extra below adds the packages of one job;
its `modules` are the import names that prove it is there (pyproject.toml's [project.optional-dependencies]
lists the distributions; tests/test_packaging.py keeps the two in step). A command that needs a missing
extra stops at its first line with MissingExtraError naming `pip install "nxport[EXTRA]"`, instead of a
ModuleNotFoundError traceback from deep inside an import.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from nxport.core.errors import MissingExtraError

TORCH_VERSION, TORCHVISION_VERSION = "2.14.1", "0.29.1"  # pyproject.toml's pins (test_packaging keeps them equal)
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Extra:
    name: str
    feature: str  # what needs it, as the user typed it
    modules: tuple[str, ...]  # import names, checked with find_spec (nothing is imported)
    note: str = ""  # added to the fix

    @property
    def install(self) -> str:
        return f'pip install "nxport[{self.name}]"'


EXTRAS: dict[str, Extra] = {extra.name: extra for extra in (
    Extra("export", "exporting a model (nxport export ..., list-models --timm)",
          ("torch", "torchvision", "timm", "onnxsim", "safetensors", "transformers", "huggingface_hub",
           "open_clip", "ftfy", "regex", "skimage", "matplotlib"),
          note=f"; for CPU-only torch wheels (no CUDA download) first `pip install torch=={TORCH_VERSION} "
               f"torchvision=={TORCHVISION_VERSION} --index-url {CPU_TORCH_INDEX}`"),
    Extra("calibrate", "INT8 calibration (nxport calibrate, python -m nxport.calibration)", ("tqdm",)),
    Extra("serve", "serving (nxport serve, python -m nxport.serving)",
          ("fastapi", "uvicorn", "pydantic", "starlette", "ftfy", "regex")),
)}


def missing_modules(extra: str, *modules: str) -> list[str]:
    """The import names of `extra` (or just `modules`, a subset of them) that are not installed."""
    wanted = modules or EXTRAS[extra].modules
    return [name for name in wanted if importlib.util.find_spec(name) is None]


def require(extra: str, *modules: str) -> None:
    """Raise MissingExtraError unless every module of `extra` (or the given subset) is installed."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")  # a programming error
    missing = missing_modules(extra, *modules)
    if missing:
        spec = EXTRAS[extra]
        raise MissingExtraError(extra, missing, spec.feature, fix=spec.install + spec.note)
