"""Exporters keyed by task name (`classification`, `embedding`, ...)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nxport.core.errors import UnknownModelError


@dataclass(frozen=True)
class Task:
    name: str
    config_type: type
    export: Callable
    summary: str


_TASKS: dict[str, Task] = {}


def register_task(name: str, config_type: type, summary: str):
    def decorator(fn: Callable) -> Callable:
        if name in _TASKS:
            raise ValueError(f"task {name!r} registered twice")
        _TASKS[name] = Task(name, config_type, fn, summary)
        return fn

    return decorator


BUILTIN_TASK_MODULES = ("nxport.exporters.classification", "nxport.exporters.embedding", "nxport.exporters.clip", "nxport.exporters.detection")


def _load_builtin_tasks() -> None:
    # Task modules register themselves on import; `import exporters` stays light, so load them here.
    import importlib

    for module in BUILTIN_TASK_MODULES:
        importlib.import_module(module)


def get_task(name: str) -> Task:
    _load_builtin_tasks()
    if name not in _TASKS:
        raise UnknownModelError(name, _TASKS, kind="export task", fix=f"use one of: {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def list_tasks() -> list[Task]:
    _load_builtin_tasks()
    return [_TASKS[k] for k in sorted(_TASKS)]
