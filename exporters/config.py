"""Typed export configuration and its precedence.

Precedence for every preprocessing field (documented, tested):
    explicit argument  >  config.json beside local weights  >  the model's pretrained config  >  library default
CLI options default to None so that the model's own values apply unless the user says otherwise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from pathlib import Path

from nxport.conventions.limits import OPSET_DEFAULT as DEFAULT_OPSET
from nxport.conventions.limits import OPSET_MAX as MAX_OPSET
from nxport.conventions.limits import OPSET_MIN as MIN_OPSET
from nxport.core.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("bilinear", "bicubic", "nearest", "lanczos", "box", "hamming")


class Pool(str, enum.Enum):
    CLS = "cls"  # the class token of a token sequence
    MEAN = "mean"  # mean of the last hidden state (all tokens, or all spatial positions)
    POOLER = "pooler"  # the model's own pooling (timm head with num_classes=0, HF pooler_output)
    GEM = "gem"  # generalized mean over a feature map, exponent p


class Activation(str, enum.Enum):
    SOFTMAX = "softmax"  # single-label: probabilities sum to 1
    SIGMOID = "sigmoid"  # multi-label: independent probabilities


@dataclass(frozen=True)
class Preprocessing:
    """What the model was trained to see. Values on the 0..1 scale, as timm and HF write them."""

    input_size: tuple[int, int]  # (H, W)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    crop_pct: float = 1.0
    origin: dict = field(default_factory=dict, compare=False)  # field -> where its value came from

    def to_dict(self) -> dict:
        return {
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "origin": dict(self.origin),
        }


@dataclass(frozen=True)
class PreprocessingOverrides:
    input_size: tuple[int, int] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    interpolation: str | None = None
    crop_pct: float | None = None


LIBRARY_DEFAULT = PreprocessingOverrides((224, 224), IMAGENET_MEAN, IMAGENET_STD, "bilinear", 1.0)


def preprocessing_from_pretrained_cfg(cfg: dict | None) -> PreprocessingOverrides:
    """timm pretrained_cfg (also the `pretrained_cfg` block of a timm-hub config.json)."""
    if not cfg:
        return PreprocessingOverrides()
    size = cfg.get("input_size")
    return PreprocessingOverrides(
        input_size=(int(size[-2]), int(size[-1])) if size else None,
        mean=tuple(cfg["mean"]) if cfg.get("mean") else None,
        std=tuple(cfg["std"]) if cfg.get("std") else None,
        interpolation=cfg.get("interpolation") or None,
        crop_pct=cfg.get("crop_pct"),
    )


def resolve_preprocessing(*layers: tuple[str, PreprocessingOverrides]) -> Preprocessing:
    """First non-None value per field, layers given highest precedence first, library default last."""
    values, origin = {}, {}
    for f in fields(PreprocessingOverrides):
        for layer_name, layer in (*layers, ("library-default", LIBRARY_DEFAULT)):
            value = getattr(layer, f.name)
            if value is not None:
                values[f.name], origin[f.name] = value, layer_name
                break
    pre = Preprocessing(**values, origin=origin)
    validate_preprocessing(pre)
    return pre


def validate_preprocessing(pre: Preprocessing) -> None:
    h, w = pre.input_size
    if h < 8 or w < 8 or h > 4096 or w > 4096:
        raise ConfigError(f"input size {h}x{w} is outside 8..4096", fix="pass --input-size H W, e.g. 224 224")
    for name, values in (("mean", pre.mean), ("std", pre.std)):
        if len(values) not in (1, 3):
            raise ConfigError(f"{name} has {len(values)} values; allowed: 1 (gray) or 3 (RGB)",
                              fix=f"pass --{name} R G B")
    if any(s <= 0 for s in pre.std):
        raise ConfigError(f"std {list(pre.std)} has a value <= 0 (rule C3)", fix="pass positive --std values")
    if max(pre.mean) > 1.0 or max(pre.std) > 1.0:
        raise ConfigError(
            f"mean {list(pre.mean)} / std {list(pre.std)} look like the 0..255 scale; these options take "
            "the 0..1 scale (timm / Hugging Face style), the exporter converts to 0..255 (rule C3)",
            fix="divide by 255, e.g. --mean 0.485 0.456 0.406",
        )
    if pre.interpolation not in INTERPOLATIONS:
        raise ConfigError(f"interpolation {pre.interpolation!r} not in {INTERPOLATIONS}",
                          fix="pass --interpolation bilinear")
    if not 0.0 < pre.crop_pct <= 1.0:
        raise ConfigError(f"crop_pct {pre.crop_pct} outside (0, 1]", fix="pass --crop-pct 0.875")


def check_architecture_overrides(architecture: dict | None, random_init: bool) -> None:
    """Reduced architectures (fewer blocks, same code paths) are for structure tests: trained weights
    would no longer fit them, so they go only with random init."""
    if architecture and not random_init:
        raise ConfigError(f"architecture overrides {architecture} change the network, so no trained weights fit it",
                          fix="use them with random_init=True (structure tests), or drop them to load weights")


def validate_opset(opset: int) -> int:
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(
            f"opset {opset!r} is not allowed; allowed: {MIN_OPSET}..{MAX_OPSET} "
            f"(rule A1: Nx caps the opset at {MAX_OPSET} and tests up to {DEFAULT_OPSET})",
            fix=f"pass --opset {DEFAULT_OPSET}",
        )
    return opset


@dataclass
class ClassifierConfig:
    """Everything that defines one classifier export. Paths are the user's; nothing here is a default
    that silently overrides the model's own preprocessing (those live in `preprocessing`)."""

    model: str
    weights: Path | None = None
    pretrained: bool = False  # try the Hugging Face hub (needs internet)
    random_init: bool = False  # explicit: never the silent fallback
    num_classes: int | None = None
    labels: Path | list[str] | None = None
    replace_char: str | None = None
    activation: Activation = Activation.SOFTMAX
    opset: int = DEFAULT_OPSET
    preprocessing: PreprocessingOverrides = field(default_factory=PreprocessingOverrides)
    registry_preprocessing: PreprocessingOverrides = field(default_factory=PreprocessingOverrides)
    output_dir: Path = Path("build")
    name: str | None = None
    overwrite: bool = False
    parity_images: Path | None = None
    parity_atol: float = 1e-4
    simplify: bool = True
    reparameterize: bool = True  # fold MobileOne/RepVGG-style training branches (exporters.reparam)
    ema: bool = False  # a training checkpoint's EMA weights (state_dict_ema) instead of its plain ones
    architecture: dict | None = None  # random init only: constructor overrides, e.g. {"depth": 2}
    targets: tuple[str, ...] = ()  # NPU profiles (conventions/targets): opset window + preflight in the report
    alarm: float | None = None  # add `alarm-<labels>` = scores > alarm (conventions.kinds.alarm, rule D4)

    def __post_init__(self):
        # Accept plain strings from library callers; keep the typed values all the way through.
        self.activation = Activation(self.activation)
        if self.alarm is not None:
            from nxport.conventions.kinds.alarm import check_threshold

            self.alarm = check_threshold(self.alarm)
        check_architecture_overrides(self.architecture, self.random_init)
        self.targets = tuple(self.targets)
        self.output_dir = Path(self.output_dir)
        if self.weights is not None:
            self.weights = Path(self.weights)

    @property
    def artifact_name(self) -> str:
        return self.name or self.model.replace("/", "_").replace(".", "_")
