"""Hugging Face transformers image backbones as export sources: a local directory (config.json,
weights, preprocessor_config.json), a hub id when the hub is reachable, or a config for random init."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from nxport.exporters.config import PreprocessingOverrides
from nxport.exporters.early_checks import check_hf_family
from nxport.exporters.hub import hub_reachable
from nxport.exporters.weights import locate_weights
from nxport.core.errors import ConfigError, MissingDependencyError, WeightsError, WeightsUnavailableError

SUPPORTED_MODEL_TYPES = ("vit", "deit", "beit", "convnext", "convnextv2", "swin", "swinv2", "dinov2",
                         "data2vec-vision", "vit_mae", "clip_vision_model")


class HfAdapter(nn.Module):
    """Uniform `features` / `pooled` over transformers' image models (their outputs differ by family)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def features(self, image):
        return self.model(pixel_values=image).last_hidden_state

    def pooled(self, image):
        return self.model(pixel_values=image).pooler_output


@dataclass
class HfLoaded:
    adapter: HfAdapter
    model_type: str
    processor_class: str | None
    processor: PreprocessingOverrides
    has_pooler: bool
    weights: dict = field(default_factory=dict)


def is_hf_directory(path: Path | None) -> bool:
    if path is None or not Path(path).is_dir() or not (Path(path) / "config.json").is_file():
        return False
    try:
        return "model_type" in json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def _transformers():
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependencyError("transformers", "Hugging Face sources") from exc
    return transformers


def attention_implementation(opset: int) -> str:
    """Eager attention at every opset: sdpa has no ONNX symbolic below opset 14, some families
    (ConvNeXt) refuse the setting, and the eager MatMul/Softmax graph is what NPU compilers map best."""
    return "eager"


def load_hf_model(model_id: str, *, weights: Path | None, pretrained: bool, random_init: bool,
                  config_kwargs: dict | None, opset: int) -> HfLoaded:
    """Exactly one source, in order: local directory > hub (pretrained) > random init from a config."""
    if weights is not None:
        check_hf_family(model_id, weights)
        return _from_directory(Path(weights), opset)
    if pretrained:
        return _from_hub(model_id, opset)
    if random_init:
        return _random_init(model_id, config_kwargs, opset)
    raise WeightsUnavailableError(
        f"No weights given for {model_id!r}, and random weights are never used silently",
        fix="pass --weights DIR (a directory saved by save_pretrained or `hf download "
        f"{model_id} --local-dir DIR`), --pretrained (needs internet), or --random-init",
    )


def _from_directory(directory: Path, opset: int) -> HfLoaded:
    if not is_hf_directory(directory):
        raise WeightsError(
            f"{str(directory)!r} is not a Hugging Face model directory (no config.json with a model_type)",
            fix="pass the directory written by save_pretrained / hf download",
        )
    weights_file = locate_weights(directory)
    transformers = _transformers()
    try:
        model, info = transformers.AutoModel.from_pretrained(
            str(directory), attn_implementation=attention_implementation(opset), output_loading_info=True)
    except Exception as exc:
        raise WeightsError(f"transformers could not load {str(directory)!r}: {type(exc).__name__}: "
                           f"{str(exc)[:300]}", fix="check that the directory is complete and uncorrupted") from exc
    processor_class, processor = load_image_processor(directory)
    provenance = {"source": "local", **weights_file.provenance}
    return _wrap(model, processor_class, processor, provenance, missing=info.get("missing_keys", []))


def _from_hub(model_id: str, opset: int) -> HfLoaded:
    if not hub_reachable():
        raise WeightsUnavailableError(
            f"{model_id!r} would be downloaded from the Hugging Face hub, which is not reachable from here",
            fix=f"on a machine with internet: `hf download {model_id} --local-dir DIR`, "
            "then pass --weights DIR; or --random-init for a structural test export",
        )
    transformers = _transformers()
    try:
        model, info = transformers.AutoModel.from_pretrained(
            model_id, attn_implementation=attention_implementation(opset), output_loading_info=True)
        processor_class, overrides = load_image_processor(model_id)
    except Exception as exc:
        raise WeightsUnavailableError(f"Downloading {model_id!r} failed: {type(exc).__name__}: {str(exc)[:300]}",
                                      fix="pass --weights DIR with a local copy") from exc
    return _wrap(model, processor_class, overrides, {"source": "hub", "id": model_id},
                 missing=info.get("missing_keys", []))


def _random_init(model_id: str, config_kwargs: dict | None, opset: int) -> HfLoaded:
    if config_kwargs is None:
        raise ConfigError(f"No architecture config is known for {model_id!r} without its config.json",
                          fix="pass --weights DIR (with config.json), or use a preconfigured model name")
    transformers = _transformers()
    kwargs = dict(config_kwargs)
    config_class = getattr(transformers, kwargs.pop("config_class"))
    config = config_class(**kwargs)
    config._attn_implementation = attention_implementation(opset)
    model = transformers.AutoModel.from_config(config)
    return _wrap(model, None, PreprocessingOverrides(), {"source": "random-init"}, missing=[])


def _wrap(model, processor_class, processor, provenance, missing) -> HfLoaded:
    model_type = model.config.model_type
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ConfigError(f"Model type {model_type!r} is not an image backbone nxport supports; "
                          f"allowed: {', '.join(SUPPORTED_MODEL_TYPES)}", fix="use a supported family")
    # A classification checkpoint loaded into the base model leaves the pooler randomly initialized:
    # its output would be noise, so it is not offered. (Whether a pooler exists at all is measured
    # by the embedding exporter on a dummy forward.)
    has_pooler = not any(k.startswith("pooler.") for k in missing)
    return HfLoaded(HfAdapter(model.eval()), model_type, processor_class, processor, has_pooler, provenance)


def load_image_processor(where: str | Path) -> tuple[str | None, PreprocessingOverrides]:
    """(processor class, its preprocessing) as transformers itself reads it (AutoImageProcessor, the
    same call for a local directory and a hub id): fields missing from preprocessor_config.json get the
    processor class's own defaults, exactly as in training. (None, nothing) for a directory without one."""
    if Path(where).is_dir() and not (Path(where) / "preprocessor_config.json").is_file():
        return None, PreprocessingOverrides()
    transformers = _transformers()
    try:
        processor = transformers.AutoImageProcessor.from_pretrained(str(where))
    except Exception as exc:  # broken JSON, unknown processor type, missing optional backend
        raise WeightsError(f"transformers could not load the image processor of {str(where)!r}: "
                           f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
                           fix="restore preprocessor_config.json from the model's source, or pass every "
                           "preprocessing value explicitly (--input-size, --mean, --std)") from exc
    return type(processor).__name__, processor_overrides(processor.to_dict())


def processor_overrides(data: dict) -> PreprocessingOverrides:
    """A loaded HF image processor's fields (`processor.to_dict()`) -> our 0..1-scale preprocessing.

    HF computes ((pixel * rescale_factor) - mean) / std; on the 0..255 scale that is
    (pixel - mean / rescale_factor) / (std / rescale_factor). Expressed on the 0..1 scale:
    mean / (rescale_factor * 255) and std / (rescale_factor * 255).
    """
    rescale = float(data.get("rescale_factor", 1 / 255)) if data.get("do_rescale", True) else 1.0
    scale = 1.0 / (rescale * 255.0)
    mean, std = data.get("image_mean"), data.get("image_std")
    if data.get("do_normalize", True) is False:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if isinstance(mean, (int, float)):
        mean, std = (mean,) * 3, (std,) * 3
    return PreprocessingOverrides(
        input_size=_input_size(data),
        mean=tuple(float(m) * scale for m in mean) if mean else None,
        std=tuple(float(s) * scale for s in std) if std else None,
        interpolation={0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}.get(
            data.get("resample")),
        crop_pct=data.get("crop_pct"),
    )


def _input_size(data: dict) -> tuple[int, int] | None:
    """The size the network sees: the crop when the processor crops, else the resize target."""
    for key in ("crop_size", "size"):
        size = data.get(key)
        if key == "crop_size" and not data.get("do_center_crop", True):
            continue
        if isinstance(size, int):
            return (size, size)
        if isinstance(size, dict):
            if size.get("height") and size.get("width"):
                return (int(size["height"]), int(size["width"]))
            if size.get("shortest_edge"):
                return (int(size["shortest_edge"]),) * 2
    return None
