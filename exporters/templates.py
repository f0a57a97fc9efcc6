"""Templates for Hugging Face image models not in the preconfigured registry, chosen by the
image-processor class transformers loads (AutoImageProcessor): their pool preference always, their
preprocessing only where no processor exists (random init); every value can be overridden."""

from __future__ import annotations

from dataclasses import dataclass

from nxport.exporters.config import IMAGENET_MEAN, IMAGENET_STD, PreprocessingOverrides
from nxport.exporters.config import Pool
from nxport.core.errors import ConfigError, close_matches

HALF = (0.5, 0.5, 0.5)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Template:
    name: str
    processor_classes: tuple[str, ...]
    pool_preference: tuple[Pool, ...]  # first one the model supports is the default
    preprocessing: PreprocessingOverrides
    families: str  # who uses it, for listings

    def to_dict(self) -> dict:
        return {"name": self.name, "processor_classes": list(self.processor_classes),
                "pool_preference": [p.value for p in self.pool_preference],
                "mean": list(self.preprocessing.mean), "std": list(self.preprocessing.std),
                "input_size": list(self.preprocessing.input_size), "interpolation": self.preprocessing.interpolation,
                "families": self.families}


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("vit", ("ViTImageProcessor",), (Pool.CLS, Pool.POOLER, Pool.MEAN),
             PreprocessingOverrides((224, 224), HALF, HALF, "bilinear", 1.0), "ViT, Swin, ViT-MAE"),
    Template("deit", ("DeiTImageProcessor",), (Pool.CLS, Pool.POOLER, Pool.MEAN),
             PreprocessingOverrides((224, 224), IMAGENET_MEAN, IMAGENET_STD, "bicubic", 224 / 256), "DeiT"),
    Template("beit", ("BeitImageProcessor",), (Pool.POOLER, Pool.MEAN, Pool.CLS),
             PreprocessingOverrides((224, 224), HALF, HALF, "bicubic", 1.0), "BEiT, Data2Vec-vision"),
    Template("convnext", ("ConvNextImageProcessor",), (Pool.POOLER, Pool.MEAN, Pool.GEM),
             PreprocessingOverrides((224, 224), IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.875), "ConvNeXt, ConvNeXt V2"),
    Template("bit", ("BitImageProcessor",), (Pool.CLS, Pool.POOLER, Pool.MEAN),
             PreprocessingOverrides((224, 224), IMAGENET_MEAN, IMAGENET_STD, "bicubic", 0.875), "DINOv2, BiT"),
    Template("clip", ("CLIPImageProcessor",), (Pool.POOLER, Pool.CLS, Pool.MEAN),
             PreprocessingOverrides((224, 224), CLIP_MEAN, CLIP_STD, "bicubic", 1.0), "CLIP vision towers"),
)}


def template_for_processor(processor_class: str) -> Template:
    base = processor_class.removesuffix("Fast")  # transformers 5 names fast variants '...ImageProcessorFast'
    for template in TEMPLATES.values():
        if base in template.processor_classes:
            return template
    supported = sorted(c for t in TEMPLATES.values() for c in t.processor_classes)
    suggestions = close_matches(base, supported, n=3)
    hint = f" Closest: {', '.join(suggestions)}." if suggestions else ""
    raise ConfigError(
        f"No export template for image processor {processor_class!r}.{hint} Supported: {', '.join(supported)}",
        fix="pass every preprocessing value explicitly (--input-size, --mean, --std, --pool) with "
        "--template NAME to borrow one (" + ", ".join(TEMPLATES) + ")",
    )


def get_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise ConfigError(f"Unknown template {name!r}; allowed: {', '.join(TEMPLATES)}",
                          fix="run `nxport list-models --templates` to see them")
    return TEMPLATES[name]


def default_pool(template: Template | None, allowed: list[Pool]) -> Pool:
    for pool in (template.pool_preference if template else (Pool.POOLER, Pool.CLS, Pool.MEAN)):
        if pool in allowed:
            return pool
    return allowed[0]
