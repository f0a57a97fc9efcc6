"""Typed errors. Every message names the bad value, what is allowed, and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NxportError(Exception):
    """Base class: a problem with the user's input or environment, never a bug."""

    exit_code = 2

    def __init__(self, message: str, *, fix: str | None = None):
        self.fix = fix
        super().__init__(f"{message}\n  fix: {fix}" if fix else message)


def close_matches(value: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    return difflib.get_close_matches(value, list(candidates), n=n, cutoff=0.6)


class UnknownModelError(NxportError):
    def __init__(self, name: str, candidates: Iterable[str], kind: str = "timm model", fix: str | None = None):
        suggestions = close_matches(name, candidates)
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"Unknown {kind} {name!r}.{hint}",
            fix=fix or "list the names with `nxport list-models PATTERN` (preconfigured) or "
            "`nxport list-models --timm 'resnet*'` (any timm architecture)",
        )
        self.name = name
        self.suggestions = suggestions


class WeightsError(NxportError):
    """Missing, unreadable, corrupt or mismatched weights."""


class WeightsUnavailableError(WeightsError):
    """No local weights were given and the hub could not be reached."""


class LabelError(NxportError):
    """Class labels that cannot be written into an Nx output name."""


class LabelCountError(LabelError):
    def __init__(self, got: int, expected: int, source: str):
        super().__init__(
            f"{source} has {got} class names but the model has {expected} outputs "
            f"(rule E3: the count must equal the number of classes)",
            fix=f"give exactly {expected} names, one per class id 0..{expected - 1}, "
            "or pass --num-classes to build a head of that size",
        )
        self.got, self.expected = got, expected


class InvalidClassNameError(LabelError):
    def __init__(self, class_id: int, name: str, bad: str):
        super().__init__(
            f"Class {class_id} name {name!r} contains {bad!r}, which Nx output names cannot "
            f"escape (rule E2: no ';', ':' or line breaks in class names)",
            fix="rename the class, or pass --replace-char '_' to substitute forbidden characters",
        )
        self.class_id, self.name, self.bad = class_id, name, bad


class ConfigError(NxportError):
    """An option value outside its allowed range (opset, input size, mean/std...)."""


class OutputExistsError(NxportError):
    def __init__(self, path):
        super().__init__(
            f"Refusing to overwrite existing artifact {str(path)!r}",
            fix="choose another --output-dir / --name, delete the file, or pass --overwrite",
        )
        self.path = path


class UnwritablePathError(NxportError):
    def __init__(self, path, reason: str):
        super().__init__(
            f"Cannot write to {str(path)!r}: {reason}",
            fix="choose a directory you can write to with --output-dir",
        )
        self.path = path


class ImageDecodeError(NxportError):
    def __init__(self, path, reason: str):
        super().__init__(
            f"Cannot decode image {str(path)!r}: {reason}",
            fix="use a JPEG, PNG, WebP, BMP or TIFF file that opens in an image viewer",
        )
        self.path = path


class ImageTooLargeError(ImageDecodeError):
    """More pixels than a camera frame could have: refused before decoding (a decompression bomb)."""

    def __init__(self, path, pixels: int, limit: int, size: str = ""):
        NxportError.__init__(
            self, f"Image {str(path)!r} is over the pixel limit ({size + ' = ' if size else ''}{pixels} > {limit} "
            "pixels); it is not decoded",
            fix=f"downscale it below {limit} pixels (camera frames are far smaller) or leave it out",
        )
        self.path, self.pixels, self.limit = path, pixels, limit


class ExportError(NxportError):
    """torch.onnx.export or a post-export assertion (opset, IR, single file) failed."""


class EagerForwardError(ExportError):
    """The model fails in PyTorch itself, before any ONNX export: no opset or exporter setting fixes that."""


class ParityError(NxportError):
    """The artifact's outputs differ from PyTorch beyond the tolerance."""

    exit_code = 1


class ConformanceError(NxportError):
    """The artifact breaks a MUST rule of the Nx conventions."""

    exit_code = 1

    def __init__(self, message: str, findings=(), fix: str | None = None):
        super().__init__(message, fix=fix)
        self.findings = list(findings)


class MissingDependencyError(NxportError):
    def __init__(self, package: str, feature: str):
        super().__init__(
            f"{feature} needs the optional package {package!r}, which is not installed",
            fix=f"pip install {package}",
        )


class MissingExtraError(MissingDependencyError):
    """A command needs an extra the light install (`pip install nxport`) leaves out (core/extras.py)."""

    def __init__(self, extra: str, missing: list[str], feature: str, fix: str):
        NxportError.__init__(
            self, f"{feature} needs the {extra!r} extra; not installed: {', '.join(missing)}", fix=fix)
        self.extra, self.missing = extra, missing


class ArtifactContractError(NxportError):
    """An artifact breaks the Nx contract a consumer relies on; names the rule ids the checker reports."""

    def __init__(self, source: str, consumer: str, problems: list[tuple[str, str]]):
        self.rule_ids = tuple(dict.fromkeys(rule_id for rule_id, _ in problems))
        lines = "\n".join(f"  {rule_id}: {message}" for rule_id, message in problems[:8])
        more = f"\n  ... and {len(problems) - 8} more" if len(problems) > 8 else ""
        super().__init__(f"{source} cannot be {consumer}: it breaks rule(s) {', '.join(self.rule_ids)} of the "
                         f"Nx conventions:\n{lines}{more}",
                         fix=f"run `python -m nxport.conventions {source}` for the fix of each rule, then re-export")


class DetectorHeadError(NxportError):
    """The ONNX file given as a detector does not end in a detection head nxport can decode."""


class DynamicInputError(ConfigError):
    """A dynamic image input that the user did not fix (rule B4: Nx needs a static input)."""


class CheckpointKeyError(WeightsError):
    """A training checkpoint lacks the weights set that was asked for (e.g. EMA weights)."""

    def __init__(self, path, wanted: str, present: Iterable[str], fix: str):
        self.present = sorted(str(k) for k in present)
        super().__init__(f"Checkpoint {str(path)!r} has no {wanted}; its top-level keys are: "
                         f"{', '.join(self.present) or '(none)'}", fix=fix)
        self.path, self.wanted = path, wanted


class ModelMismatchError(WeightsError):
    """The weights' own config names another architecture than the model the user named."""

    def __init__(self, model: str, expected_type: str, weights, found_type: str):
        super().__init__(
            f"--model {model!r} is a {expected_type!r} model, but the config.json in {str(weights)!r} says "
            f"model_type {found_type!r}: exporting would put one architecture under the other's name",
            fix=f"pass the --model the weights belong to (a {found_type!r} model), or the --weights "
            f"directory of a {expected_type!r} model",
        )
        self.model, self.expected_type, self.found_type = model, expected_type, found_type
