"""Image-embedding export: a backbone + pooling (+ L2) -> `image-` in, `embedding-dim:D;norm:..;pool:..` out.

Sources: timm models, Hugging Face transformers image models, and the ISC21-style descriptor head.
Preprocessing precedence: explicit > the weights' own config (preprocessor_config.json / timm
config.json) > the preconfigured registry entry > the model's pretrained config or HF template >
library default.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from nxport.conventions.kinds.embedding import format_name as format_embedding_name
from nxport.conventions.normalization import Normalization
from nxport.exporters.artifact import ExportResult
from nxport.exporters.classification import INPUT_NAME, input_shape, provenance_of, timm_source_info
from nxport.exporters.config import (
    DEFAULT_OPSET,
    check_architecture_overrides,
    Preprocessing,
    PreprocessingOverrides,
    preprocessing_from_pretrained_cfg,
    resolve_preprocessing,
)
from nxport.exporters.early_checks import check_embedding_inputs
from nxport.exporters.verification import export_verified
from nxport.exporters.parity import embedding_parity, nx_feeds, parity_photos
from nxport.exporters.pipeline import Built, ExportContext, ExportTask, Graph, run_export
from nxport.exporters.pooling import EmbeddingModel, Pool, allowed_pools
from nxport.exporters.random_init import recalibrate_batchnorm
from nxport.exporters.registry import register_task
from nxport.exporters.reparam import reparameterize_for_export
from nxport.core.errors import ConfigError, UnknownModelError


class Source(str, enum.Enum):
    AUTO = "auto"
    TIMM = "timm"
    HF = "hf"
    ISC21 = "isc21"


@dataclass
class EmbeddingConfig:
    model: str  # timm name, HF id, or (isc21) the timm backbone name
    source: Source = Source.AUTO
    weights: Path | None = None
    pretrained: bool = False
    random_init: bool = False
    pool: Pool | None = None  # None: the template's / model's preferred pooling
    normalize: bool = True
    gem_p: float = 3.0
    projection_dim: int = 256  # isc21 only
    template: str | None = None  # HF: force a template instead of the processor-class lookup
    hf_config: dict | None = None  # HF random init: {"config_class": "ViTConfig", **kwargs}
    registry_preprocessing: PreprocessingOverrides = field(default_factory=PreprocessingOverrides)
    opset: int = DEFAULT_OPSET
    preprocessing: PreprocessingOverrides = field(default_factory=PreprocessingOverrides)
    output_dir: Path = Path("build")
    name: str | None = None
    overwrite: bool = False
    parity_images: Path | None = None
    parity_min_cosine: float = 0.9999
    simplify: bool = True
    reparameterize: bool = True  # timm sources: fold MobileOne/RepVGG-style training branches (exporters.reparam)
    ema: bool = False  # timm sources: a training checkpoint's EMA weights instead of its plain ones
    architecture: dict | None = None  # random init only: constructor overrides, e.g. {"num_hidden_layers": 2}
    targets: tuple[str, ...] = ()  # NPU profiles (conventions/targets): opset window + preflight in the report

    def __post_init__(self):
        check_architecture_overrides(self.architecture, self.random_init)
        self.targets = tuple(self.targets)
        self.source = Source(self.source)
        self.pool = Pool(self.pool) if self.pool is not None else None
        self.output_dir = Path(self.output_dir)
        self.weights = Path(self.weights) if self.weights is not None else None
        if self.gem_p <= 0:
            raise ConfigError(f"gem_p {self.gem_p} must be > 0", fix="pass --gem-p 3")
        if self.projection_dim < 1:
            raise ConfigError(f"projection_dim {self.projection_dim} must be >= 1", fix="pass --projection-dim 256")

    @property
    def artifact_name(self) -> str:
        return self.name or self.model.replace("/", "_").replace(".", "_") + "_embedding"


@dataclass
class Backbone:
    """What a source hands to the shared pipeline."""

    module: torch.nn.Module  # the full embedding model, input image -> (1, D)
    pool: Pool
    preprocessing: Preprocessing
    provenance: dict


def resolve_source(config: EmbeddingConfig) -> Source:
    if config.source is not Source.AUTO:
        return config.source
    import timm

    from nxport.exporters.hf_source import is_hf_directory

    if is_hf_directory(config.weights):  # timm-hub directories have no model_type
        return Source.HF
    name = config.model.removeprefix("timm/")
    if timm.is_model(name.split(".", 1)[0]):
        return Source.TIMM
    if "/" in config.model:
        return Source.HF
    raise UnknownModelError(config.model, timm.list_models(), kind="timm model or Hugging Face id")


def _choose_pool(requested: Pool | None, allowed: list[Pool], template) -> Pool:
    from nxport.exporters.templates import default_pool

    if requested is None:
        return default_pool(template, allowed)
    if requested not in allowed:
        raise ConfigError(
            f"pool {requested.value!r} does not apply to this model; allowed: {', '.join(p.value for p in allowed)}",
            fix="cls needs a class token, gem needs a CNN feature map, pooler needs the model's own pooler",
        )
    return requested


def _probe(adapter, shape) -> tuple[int, bool]:
    """Feature rank and whether the model's own pooling yields a vector, from one dummy forward."""
    with torch.no_grad():
        dummy = torch.zeros(shape)
        rank = adapter.features(dummy).ndim
        try:
            pooled = adapter.pooled(dummy)
        except Exception:  # a model without a pooler raises or returns None: either way, not offered
            pooled = None
    return rank, pooled is not None


def _timm_backbone(config: EmbeddingConfig, shape_of) -> Backbone:
    from nxport.exporters.timm_source import TimmAdapter, load_timm_model

    loaded = load_timm_model(config.model.removeprefix("timm/"), weights=config.weights,
                             pretrained=config.pretrained, random_init=config.random_init, ema=config.ema,
                             **(config.architecture or {}))
    pre = resolve_preprocessing(("explicit", config.preprocessing), ("weights-config", loaded.local_cfg),
                                ("registry", config.registry_preprocessing),
                                ("model-config", preprocessing_from_pretrained_cfg(loaded.pretrained_cfg)))
    adapter = TimmAdapter(loaded.module).eval()
    rank, has_pooler = _probe(adapter, shape_of(pre))
    pool = _choose_pool(config.pool, allowed_pools(rank, has_pooler, adapter.has_cls_token), None)
    provenance = provenance_of("embedding", timm_source_info(loaded), loaded.weights, pre, config.opset)
    return Backbone(EmbeddingModel(adapter, pool, config.normalize, config.gem_p).eval(), pool, pre, provenance)


def _hf_backbone(config: EmbeddingConfig, shape_of) -> Backbone:
    from nxport.exporters.hf_source import load_hf_model
    from nxport.exporters.templates import get_template, template_for_processor

    loaded = load_hf_model(config.model, weights=config.weights, pretrained=config.pretrained,
                           random_init=config.random_init,
                           config_kwargs={**(config.hf_config or {}), **(config.architecture or {})} or None,
                           opset=config.opset)
    if config.template:
        template = get_template(config.template)
    elif loaded.processor_class:
        template = template_for_processor(loaded.processor_class)
    else:
        template = None
    layers = [("explicit", config.preprocessing), ("weights-config", loaded.processor),
              ("registry", config.registry_preprocessing)]
    if template:
        layers.append((f"template:{template.name}", template.preprocessing))
    pre = resolve_preprocessing(*layers)
    rank, has_pooler = _probe(loaded.adapter, shape_of(pre))
    has_cls = loaded.model_type not in ("swin", "swinv2", "convnext", "convnextv2")
    pool = _choose_pool(config.pool, allowed_pools(rank, has_pooler and loaded.has_pooler, has_cls), template)
    provenance = _hf_provenance(config, loaded, pre, template)
    return Backbone(EmbeddingModel(loaded.adapter, pool, config.normalize, config.gem_p).eval(), pool, pre,
                    provenance)


def _hf_provenance(config, loaded, pre: Preprocessing, template) -> dict:
    import transformers

    source = {"library": "transformers", "model": config.model, "model_type": loaded.model_type,
              "processor_class": loaded.processor_class, "template": template.name if template else None,
              "transformers": transformers.__version__}
    return provenance_of("embedding", source, loaded.weights, pre, config.opset)


def _isc_backbone(config: EmbeddingConfig, shape_of) -> Backbone:
    from nxport.exporters.isc import IscDescriptor, load_isc_weights, read_isc_checkpoint
    from nxport.exporters.timm_source import check_model_name
    from nxport.exporters.weights import sha256_of
    from nxport.core.errors import WeightsUnavailableError

    if config.weights is None and not config.random_init:
        raise WeightsUnavailableError("The isc21 head needs a checkpoint in the ISC21 descriptor layout",
                                      fix="pass --weights CHECKPOINT.pth(.tar), or --random-init")
    checkpoint = read_isc_checkpoint(config.weights) if config.weights is not None else None
    backbone_name = config.model
    check_model_name(backbone_name)
    module = IscDescriptor(backbone_name, config.projection_dim, config.gem_p, **(config.architecture or {})).eval()
    weights_info = {"source": "random-init"}
    if checkpoint is not None:
        load_isc_weights(module, checkpoint, config.weights)
        weights_info = {"source": "local", "file": config.weights.name, "sha256": sha256_of(config.weights),
                        "key_mapping": "by-name (ISC21 layout)"}
    size = checkpoint.input_size if checkpoint and checkpoint.input_size else None
    pre = resolve_preprocessing(("explicit", config.preprocessing),
                                ("weights-config", PreprocessingOverrides(input_size=(size, size) if size else None)),
                                ("registry", config.registry_preprocessing),
                                ("model-config", preprocessing_from_pretrained_cfg(module.pretrained_cfg)))
    import timm

    source = {"library": "timm", "model": backbone_name, "timm": timm.__version__}
    provenance = provenance_of("embedding", source, weights_info, pre, config.opset)
    provenance["head"] = {"kind": "isc21", "projection_dim": config.projection_dim, "gem_p": config.gem_p}
    return Backbone(module, Pool.GEM, pre, provenance)


BUILDERS = {Source.TIMM: _timm_backbone, Source.HF: _hf_backbone, Source.ISC21: _isc_backbone}


@dataclass
class EmbeddingSource:
    """What the load stage found; config carries the opset the targets allow."""

    config: EmbeddingConfig
    source: Source
    backbone: Backbone
    photos: list


class EmbeddingTask(ExportTask):
    def load(self, ctx: ExportContext) -> EmbeddingSource:
        # The targets' opset window applies before anything reads the opset (HF attention, provenance).
        config = replace(self.config, opset=ctx.opset)
        source = resolve_source(config)
        return EmbeddingSource(config, source, BUILDERS[source](config, input_shape),
                               parity_photos(config.parity_images))

    def build(self, ctx: ExportContext, loaded: EmbeddingSource) -> Built:
        return build_embedding(loaded.config, ctx, loaded)


@register_task("embedding", EmbeddingConfig, "backbone + pooling + L2 -> embedding-dim:D;norm:l2;pool:NAME")
def export_embedding(config: EmbeddingConfig) -> ExportResult:
    check_embedding_inputs(config.model, config.source.value, config.weights, config.pretrained, config.random_init)
    return run_export(EmbeddingTask(config)).single()


def build_embedding(config: EmbeddingConfig, ctx: ExportContext, loaded: EmbeddingSource) -> Built:
    source, backbone, photos, timer = loaded.source, loaded.backbone, loaded.photos, ctx.timer
    pre, module = backbone.preprocessing, backbone.module
    norm = Normalization.from_unit_scale(pre.mean, pre.std)
    shape = input_shape(pre)
    norm_key = "l2" if config.normalize or source is Source.ISC21 else "none"
    feeds = nx_feeds(photos, INPUT_NAME, shape, norm)
    if backbone.provenance["weights"].get("source") == "random-init":
        backbone.provenance["weights"]["batchnorm_recalibrated_layers"] = recalibrate_batchnorm(module, feeds,
                                                                                                INPUT_NAME)
    with timer("reparameterize"):
        module, reparam = reparameterize_for_export(module, feeds, INPUT_NAME,
                                                    enabled=config.reparameterize and source is not Source.HF,
                                                    min_cosine=config.parity_min_cosine)
    graph = export_verified(module, feeds, INPUT_NAME,
                            lambda ref: format_embedding_name(int(ref.shape[-1]), norm_key, backbone.pool.value),
                            config.opset, simplify_graph=config.simplify, timer=timer,
                            label=f"parity photo {photos[0].name}")
    provenance = {**backbone.provenance, "pool": backbone.pool.value, "normalize": norm_key == "l2",
                  "dim": int(graph.expected[0].shape[-1]), "reparameterization": reparam}
    if backbone.pool is Pool.GEM:
        provenance["gem_p"] = config.gem_p
    if config.architecture:
        provenance["architecture_overrides"] = config.architecture
    if graph.simplify_info is not None:
        provenance["simplify"] = graph.simplify_info
    parity = embedding_parity(graph.expected, graph.run.outputs, config.parity_min_cosine, graph.blame(feeds))
    provenance["parity"] = parity.to_dict()
    next_steps = [f"python -m nxport.conventions {ctx.paths['onnx']}   # re-check any time, e.g. in CI",
                  "embeddings are passed raw by Nx (rule D5): compare them with cosine similarity downstream"]
    return Built([Graph("onnx", graph.model, provenance, norm, graph.run.evidence)], next_steps)
