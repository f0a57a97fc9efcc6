"""timm models as export sources: architecture by name, weights from a local file, the hub, or
(only when asked) random initialization."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from nxport.exporters.config import PreprocessingOverrides, preprocessing_from_pretrained_cfg
from nxport.exporters.early_checks import check_timm_name
from nxport.exporters.hub import hub_reachable
from nxport.exporters.weights import WeightsFile, locate_weights, match_state_dict, read_checkpoint
from nxport.core.errors import ConfigError, WeightsError, WeightsUnavailableError


@dataclass
class LoadedModel:
    module: "torch.nn.Module"  # noqa: F821
    name: str
    pretrained_cfg: dict
    num_classes: int
    weights: dict = field(default_factory=dict)  # provenance: source, file, sha256, key mapping
    local_cfg: PreprocessingOverrides = field(default_factory=PreprocessingOverrides)


def check_model_name(name: str) -> None:
    check_timm_name(name)


def load_timm_model(name: str, *, weights=None, pretrained=False, random_init=False,
                    num_classes: int | None = None, ema: bool = False, **create_kwargs) -> LoadedModel:
    """Create `name` with weights from exactly one source, chosen in this order:
    local `weights` > hub (`pretrained`) > `random_init`. No source is an error, never random weights.
    ema: a training checkpoint's EMA weights instead of its plain ones."""
    check_model_name(name)
    if num_classes is not None and num_classes < 1:
        raise ConfigError(f"num_classes {num_classes} must be >= 1", fix="pass --num-classes N with N >= 1")
    if weights is not None:
        return _from_local(name, locate_weights(weights), num_classes, create_kwargs, ema)
    if pretrained:
        return _from_hub(name, num_classes, create_kwargs)
    if random_init:
        module = _create(name, False, num_classes, create_kwargs)
        return _loaded(module, name, {"source": "random-init"})
    raise WeightsUnavailableError(
        f"No weights given for {name!r}, and random weights are never used silently",
        fix="pass --weights PATH (.pth/.safetensors/HF-style directory), --pretrained (downloads from "
        "the Hugging Face hub; needs internet), or --random-init for a structural test export",
    )


def _create(name, pretrained, num_classes, create_kwargs):
    import timm

    kwargs = dict(create_kwargs)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    return timm.create_model(name, pretrained=pretrained, **kwargs).eval()


def _loaded(module, name, weights_info, local_cfg=None) -> LoadedModel:
    return LoadedModel(
        module=module,
        name=name,
        pretrained_cfg=dict(getattr(module, "pretrained_cfg", {}) or {}),
        num_classes=int(getattr(module, "num_classes", 0) or 0),
        weights=weights_info,
        local_cfg=local_cfg or PreprocessingOverrides(),
    )


def _from_hub(name, num_classes, create_kwargs) -> LoadedModel:
    if not hub_reachable():
        raise WeightsUnavailableError(
            f"Pretrained weights for {name!r} come from the Hugging Face hub, which is not reachable "
            "from this machine (no network, or HF_HUB_OFFLINE is set)",
            fix="download the weights elsewhere and pass --weights PATH (file or directory), "
            "or pass --random-init for a structural test export",
        )
    try:
        module = _create(name, True, num_classes, create_kwargs)
    except Exception as exc:  # huggingface_hub raises many types for network / auth / missing files
        raise WeightsUnavailableError(
            f"Downloading pretrained weights for {name!r} failed: {type(exc).__name__}: {str(exc)[:300]}",
            fix="pass --weights PATH with a local copy of the weights",
        ) from exc
    tag = module.pretrained_cfg.get("hf_hub_id") or module.pretrained_cfg.get("url")
    return _loaded(module, name, {"source": "hub", "id": tag})


def _from_local(name, weights: WeightsFile, num_classes, create_kwargs, ema: bool) -> LoadedModel:
    state, checkpoint_key = read_checkpoint(weights.path, ema)
    local_pretrained_cfg = (weights.config or {}).get("pretrained_cfg") or {}
    if num_classes is None:
        num_classes = _classifier_size(name, state, weights.config)
    module = _create(name, False, num_classes, create_kwargs)
    matched, mapping = match_state_dict(module, state, weights.path)
    missing, unexpected = module.load_state_dict(matched, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:  # match_state_dict guarantees this never happens; keep it loud anyway
        raise WeightsError(f"Weights {weights.path.name!r} left keys unloaded: {missing[:3]} {unexpected[:3]}")
    info = {"source": "local", **weights.provenance, "key_mapping": mapping.method}
    if checkpoint_key:
        info["checkpoint_key"] = checkpoint_key
    return _loaded(module.eval(), name, info, preprocessing_from_pretrained_cfg(local_pretrained_cfg))


def _classifier_size(name: str, state: dict, dir_config: dict | None) -> int | None:
    """The checkpoint's class count, so a fine-tuned head loads without --num-classes."""
    if dir_config and isinstance(dir_config.get("num_classes"), int):
        return dir_config["num_classes"]
    import timm

    cfg = timm.models.get_pretrained_cfg(name.split(".", 1)[0])
    classifier = (cfg.classifier if cfg else None) or "classifier"
    heads = classifier if isinstance(classifier, (list, tuple)) else [classifier]
    for head in heads:
        weight = state.get(f"{head}.weight")
        if weight is not None and weight.ndim >= 2:
            return int(weight.shape[0])
    return None


class TimmAdapter(nn.Module):
    """`features` (tokens or feature map) and `pooled` (timm's own head pooling) of a timm model."""

    def __init__(self, model):
        super().__init__()
        model.reset_classifier(0)  # the pooled pre-logits features become the output
        self.model = model

    def features(self, image):
        return self.model.forward_features(image)

    def pooled(self, image):
        return self.model(image)

    @property
    def has_cls_token(self) -> bool:
        return int(getattr(self.model, "num_prefix_tokens", 0) or 0) > 0
