"""CLIP models from Hugging Face transformers or open_clip, reduced to what the exporter needs:
an image tower, a text tower, the logit scale, the tokenizer and the image preprocessing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from nxport.exporters.clip_tokenizer import ClipTokenizer
from nxport.exporters.config import PreprocessingOverrides
from nxport.exporters.pooling import l2_normalize
from nxport.exporters.hub import hub_reachable
from nxport.exporters.weights import locate_weights, read_state_dict
from nxport.core.errors import ConfigError, MissingDependencyError, WeightsError, WeightsUnavailableError


def _features(output) -> torch.Tensor:
    # transformers 5 returns an output object from get_*_features; 4.x returned the tensor.
    return output if isinstance(output, torch.Tensor) else output.pooler_output


@dataclass
class ClipModel:
    model: nn.Module
    image_tower: nn.Module
    text_tower: nn.Module
    logit_scale: float
    tokenizer: ClipTokenizer
    preprocessing: PreprocessingOverrides
    source: dict
    weights: dict = field(default_factory=dict)


class _HfImage(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        return l2_normalize(_features(self.model.get_image_features(pixel_values=image)))


class _HfText(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        return l2_normalize(_features(self.model.get_text_features(input_ids=tokens)))


class _OpenClipImage(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image):
        return l2_normalize(self.model.encode_image(image))


class _OpenClipText(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens):
        return l2_normalize(self.model.encode_text(tokens))


def _tokenizer_for(directory: Path | None, context_length: int) -> tuple[ClipTokenizer, str]:
    if directory is not None and (directory / "vocab.json").is_file() and (directory / "merges.txt").is_file():
        return ClipTokenizer.from_directory(directory, context_length), "model directory"
    return ClipTokenizer.from_bpe_file(context_length=context_length), "open_clip OpenAI BPE vocabulary"


def load_hf_clip(model_id: str, *, weights: Path | None, pretrained: bool, random_init: bool,
                 config_kwargs: dict | None) -> ClipModel:
    try:
        import transformers
    except ImportError as exc:
        raise MissingDependencyError("transformers", "Hugging Face CLIP") from exc
    from nxport.exporters.hf_source import load_image_processor

    directory, processor = None, PreprocessingOverrides()
    if weights is not None:
        directory = Path(weights)
        locate_weights(directory)  # a clear error for a missing / weightless directory
        model = _hf_from_pretrained(transformers, str(directory))
        processor = load_image_processor(directory)[1]
        weights_info = {"source": "local", **locate_weights(directory).provenance}
    elif pretrained:
        if not hub_reachable():
            raise WeightsUnavailableError(
                f"{model_id!r} would be downloaded from the Hugging Face hub, which is not reachable from here",
                fix=f"`hf download {model_id} --local-dir DIR` elsewhere, then --weights DIR; "
                "or --random-init")
        model = _hf_from_pretrained(transformers, model_id)
        weights_info = {"source": "hub", "id": model_id}
    elif random_init:
        config = transformers.CLIPConfig(**(config_kwargs or {}))
        config._attn_implementation = "eager"
        model = transformers.CLIPModel(config)
        weights_info = {"source": "random-init"}
    else:
        raise WeightsUnavailableError(f"No weights given for CLIP model {model_id!r}",
                                      fix="pass --weights DIR (save_pretrained layout), --pretrained, or --random-init")
    model.eval()
    size = model.config.vision_config.image_size
    processor = PreprocessingOverrides(input_size=processor.input_size or (size, size), mean=processor.mean,
                                       std=processor.std, interpolation=processor.interpolation,
                                       crop_pct=processor.crop_pct)
    tokenizer, vocab_source = _tokenizer_for(directory, model.config.text_config.max_position_embeddings)
    source = {"library": "transformers", "model": model_id, "transformers": transformers.__version__,
              "tokenizer": vocab_source}
    return ClipModel(model, _HfImage(model), _HfText(model), float(model.logit_scale.detach().exp()), tokenizer,
                     processor, source, weights_info)


def _hf_from_pretrained(transformers, where: str):
    try:
        return transformers.CLIPModel.from_pretrained(where, attn_implementation="eager")
    except Exception as exc:
        raise WeightsError(f"transformers could not load CLIP from {where!r}: {type(exc).__name__}: "
                           f"{str(exc)[:300]}", fix="pass a directory saved by CLIPModel.save_pretrained") from exc


def load_open_clip(config_name: str, *, weights: Path | None, random_init: bool) -> ClipModel:
    try:
        import open_clip
    except ImportError as exc:
        raise MissingDependencyError("open_clip_torch", "open_clip CLIP models") from exc
    name = _register_config(open_clip, config_name)
    if weights is None and not random_init:
        raise WeightsUnavailableError(f"No checkpoint given for open_clip model {name!r}",
                                      fix="pass --weights CHECKPOINT (.bin/.pt/.safetensors), or --random-init")
    model = open_clip.create_model(name, pretrained=None).eval()
    weights_info = {"source": "random-init"}
    if weights is not None:
        weights_file = locate_weights(weights)
        state = read_state_dict(weights_file)  # weights_only: no arbitrary unpickling
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"Checkpoint {weights_file.path.name!r} does not fit open_clip {name!r}: "
                               f"{state_dict_mismatch(exc)}",
                               fix="pass as --model the open_clip config the checkpoint was trained with (a name "
                               "from open_clip.list_models(), e.g. ViT-B-32, or a JSON config file)") from exc
        weights_info = {"source": "local", **weights_file.provenance}
    cfg = getattr(model.visual, "preprocess_cfg", {}) or {}
    size = cfg.get("size", model.visual.image_size)
    size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    processor = PreprocessingOverrides(input_size=size, mean=tuple(cfg["mean"]) if "mean" in cfg else None,
                                       std=tuple(cfg["std"]) if "std" in cfg else None,
                                       interpolation=cfg.get("interpolation"))
    tokenizer = ClipTokenizer.from_bpe_file(context_length=model.context_length)
    source = {"library": "open_clip", "model": name, "open_clip": open_clip.__version__,
              "tokenizer": "open_clip OpenAI BPE vocabulary"}
    return ClipModel(model, _OpenClipImage(model), _OpenClipText(model), float(model.logit_scale.detach().exp()),
                     tokenizer, processor, source, weights_info)


def state_dict_mismatch(exc: RuntimeError, limit: int = 3) -> str:
    """The cause in torch's load_state_dict error: its first line only says "Error(s) in loading state_dict
    for CLIP:"; the missing / unexpected keys and the size mismatches follow, each listed in full."""
    lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    parts = []
    for line in lines:
        head, _, rest = line.partition(":")
        items = [item.strip() for item in rest.split(",") if item.strip()] if head.startswith(
            ("Missing key", "Unexpected key")) else [rest.strip()]
        more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
        parts.append(f"{head}: {', '.join(items[:limit])}{more}")
    return "; ".join(parts[:2 * limit]) or str(exc).strip()[:500]


def _register_config(open_clip, config_name: str) -> str:
    """A known open_clip config name, or a JSON file with a custom architecture."""
    path = Path(config_name)
    if path.suffix == ".json":
        if not path.is_file():
            raise ConfigError(f"open_clip config file {config_name!r} does not exist",
                              fix="pass an existing JSON model config or a name from open_clip.list_models()")
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"open_clip config {config_name!r} is not valid JSON: {exc}", fix="fix the file") from exc
        open_clip.add_model_config(path)
        return path.stem
    if config_name not in open_clip.list_models():
        from nxport.core.errors import UnknownModelError

        raise UnknownModelError(config_name, open_clip.list_models(), kind="open_clip model config",
                                fix="pass a name from open_clip.list_models() or a JSON config file")
    return config_name
