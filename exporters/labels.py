"""Class names for `scores-` outputs: ImageNet from timm, or the user's file; rule E2/E3 enforced."""

from __future__ import annotations

import json
from pathlib import Path

from nxport.conventions.names import FORBIDDEN_IN_CLASS_NAMES
from nxport.core.errors import InvalidClassNameError, LabelCountError, LabelError

IMAGENET_SUBSETS = {1000: "imagenet-1k", 11821: "imagenet-12k", 21841: "imagenet-22k", 21843: "imagenet-21k"}


def imagenet_labels(num_classes: int) -> list[str]:
    """Short ImageNet names (the first synonym: 'tabby, tabby cat' -> 'tabby')."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo(IMAGENET_SUBSETS[num_classes])
    return [info.index_to_description(i).split(",")[0].strip() for i in range(num_classes)]


def read_labels_file(path: str | Path) -> list[str]:
    """One name per line, a JSON list, or a JSON object {"0": "cat", ...} keyed by class id."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelError(f"Cannot read labels file {str(path)!r}: {exc.strerror}",
                         fix="pass an existing UTF-8 text or JSON file to --labels") from exc
    except UnicodeDecodeError as exc:
        raise LabelError(f"Labels file {str(path)!r} is not UTF-8 text", fix="save it as UTF-8") from exc
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        return _labels_from_json(text, path)
    names = text.splitlines()
    while names and not names[-1].strip():  # a trailing newline is not a class
        names.pop()
    return [n.strip() for n in names]


def _labels_from_json(text: str, path: Path) -> list[str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelError(f"Labels file {str(path)!r} is not valid JSON: {exc}", fix="fix the JSON syntax") from exc
    if isinstance(data, list) and all(isinstance(n, str) for n in data):
        return list(data)
    if isinstance(data, dict):
        try:
            ids = sorted(int(k) for k in data)
        except ValueError as exc:
            raise LabelError(f"Labels file {str(path)!r}: object keys must be class ids, got {list(data)[:3]}",
                             fix='use {"0": "cat", "1": "dog"}') from exc
        if ids != list(range(len(ids))):
            raise LabelError(f"Labels file {str(path)!r}: class ids must be exactly 0..{len(ids) - 1} "
                             f"(rule E3), got {ids[:10]}", fix="number the classes from 0 without gaps")
        return [str(data[str(i)]) for i in ids]
    raise LabelError(f"Labels file {str(path)!r} must hold a JSON list of names or an id->name object",
                     fix='use ["cat", "dog"] or {"0": "cat", "1": "dog"}')


def validate_labels(names: list[str], num_classes: int, source: str, replace_char: str | None) -> list[str]:
    """Refuse names that cannot live in an Nx output name (rule E2), or a count != C (rule E3)."""
    if len(names) != num_classes:
        raise LabelCountError(len(names), num_classes, source)
    if replace_char is not None and any(c in replace_char for c in FORBIDDEN_IN_CLASS_NAMES):
        raise LabelError(f"replacement {replace_char!r} is itself forbidden in class names",
                         fix="use e.g. --replace-char '_'")
    cleaned = []
    for class_id, name in enumerate(names):
        for bad in FORBIDDEN_IN_CLASS_NAMES:
            if bad in name:
                if replace_char is None:
                    raise InvalidClassNameError(class_id, name, bad)
                name = name.replace(bad, replace_char)
        if not name.strip():
            raise LabelError(f"Class {class_id} has an empty name", fix="give every class a name")
        cleaned.append(name)
    return cleaned


def resolve_labels(labels, num_classes: int, replace_char: str | None) -> tuple[list[str], str]:
    """Names for the model's classes and a description of where they came from."""
    if labels is None:
        if num_classes not in IMAGENET_SUBSETS:
            raise LabelError(
                f"The model has {num_classes} classes and no labels were given; ImageNet names exist "
                f"only for {sorted(IMAGENET_SUBSETS)} classes",
                fix="pass --labels FILE (one name per line, or a JSON list)",
            )
        source = f"{IMAGENET_SUBSETS[num_classes]} (timm ImageNetInfo, first synonym)"
        names = imagenet_labels(num_classes)
    elif isinstance(labels, (list, tuple)):
        source, names = "explicit list", list(labels)
    else:
        source, names = f"file {Path(labels).name}", read_labels_file(labels)
    return validate_labels(names, num_classes, source, replace_char), source
