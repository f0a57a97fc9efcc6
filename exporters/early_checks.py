"""Checks of names, paths and flags that need neither torch nor timm nor transformers.

The CLI runs them before its heavy imports: importing torch + timm takes 5 s on an idle machine and
13-19 s on a busy one, and a misspelled model name or a missing weights file should cost what
`nxport --help` costs. The exporters run them again (they are cheap), so library callers get the
same errors.
"""

from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

from nxport.core.errors import ModelMismatchError, UnknownModelError, WeightsUnavailableError
from nxport.exporters.weights import resolve_weights_path

# Every name timm.is_model accepts (deprecated aliases included), for the timm version in its header.
TIMM_NAMES_FILE = Path(__file__).with_name("timm_models.txt")
_TIMM_HEADER = "# timm "

# A Hugging Face config's model_type, per family a hub name can start with. DeiT checkpoints such as
# facebook/deit-base-patch16-224 are plain ViT architectures (model_type "vit").
_COMPATIBLE_MODEL_TYPES = {"deit": {"deit", "vit"}, "vit": {"vit", "vit_hybrid"}, "dinov3": {"dinov3_vit", "dinov3_convnext"},
                           "clip": {"clip", "clip_vision_model"}, "siglip": {"siglip", "siglip_vision_model"}}
HF_FAMILIES = ("vit", "deit", "beit", "convnext", "convnextv2", "swin", "swinv2", "dinov2", "dinov3",
               "data2vec_vision", "vit_mae", "vit_msn", "levit", "mobilevit", "mobilevitv2", "efficientnet",
               "regnet", "resnet", "siglip", "clip")


def timm_architectures() -> list[str]:
    """timm's architecture names: from the list cached for the installed timm version, else from timm."""
    lines = TIMM_NAMES_FILE.read_text(encoding="utf-8").splitlines()
    if lines and lines[0] == _TIMM_HEADER + _installed_version("timm"):
        return lines[1:]
    import timm  # another timm version: its own registry is the truth, at the cost of the import
    from timm.models._registry import _model_entrypoints

    return sorted(_model_entrypoints) or timm.list_models()


def write_timm_names_cache() -> None:
    """Regenerate exporters/timm_models.txt after a timm upgrade (tests fail until it is done)."""
    import timm
    from timm.models._registry import _model_entrypoints

    TIMM_NAMES_FILE.write_text("\n".join([_TIMM_HEADER + timm.__version__, *sorted(_model_entrypoints)]) + "\n",
                               encoding="utf-8")


def _installed_version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return ""


def check_timm_name(name: str) -> None:
    """'resnet18', 'resnet18.a1_in1k' (architecture + pretrained tag) or 'timm/resnet18'."""
    architecture = name.removeprefix("timm/").split(".", 1)[0]
    names = timm_architectures()
    if architecture not in set(names):
        raise UnknownModelError(architecture, names)  # the bad part, so suggestions compare like with like


def check_weights_choice(model: str, weights, pretrained: bool, random_init: bool) -> None:
    if weights is not None:
        resolve_weights_path(weights)
    elif not pretrained and not random_init:
        raise WeightsUnavailableError(
            f"No weights given for {model!r}, and random weights are never used silently",
            fix="pass --weights PATH (.pth/.pth.tar/.safetensors/HF-style directory), --pretrained (downloads "
            "from the Hugging Face hub; needs internet), or --random-init for a structural test export",
        )


def hf_family(model_id: str) -> str | None:
    """The model family a hub id names by its repository name ('facebook/dinov2-small' -> 'dinov2'),
    or None when the name does not start with a known family."""
    repo = re.sub(r"[-.]", "_", model_id.rsplit("/", 1)[-1].lower())
    matches = [f for f in HF_FAMILIES if repo == f or repo.startswith(f + "_")]
    return max(matches, key=len) if matches else None


def config_model_type(directory: Path) -> str | None:
    try:
        config = json.loads((Path(directory) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no or broken config.json: the loader reports it with its own fix
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return model_type if isinstance(model_type, str) else None


def check_hf_family(model_id: str, weights) -> None:
    """A weights directory whose config.json names another architecture than --model is an error: the
    export would succeed and label, say, a ViT as DINOv2."""
    if weights is None or not Path(weights).is_dir():
        return
    expected, found = hf_family(model_id), config_model_type(Path(weights))
    if expected is None or found is None:
        return
    found_family = found.replace("-", "_")
    if found_family not in _COMPATIBLE_MODEL_TYPES.get(expected, {expected}):
        raise ModelMismatchError(model_id, expected, weights, found)


def check_timm_inputs(model: str, weights, pretrained: bool, random_init: bool) -> None:
    check_timm_name(model)
    check_weights_choice(model, weights, pretrained, random_init)


def check_embedding_inputs(model: str, source: str, weights, pretrained: bool, random_init: bool) -> None:
    """The embedding command's sources: timm name, HF id / directory, or an ISC21 checkpoint."""
    if source == "isc21":
        check_timm_name(model)
        if weights is not None:
            resolve_weights_path(weights)
        return
    if source == "hf" or (source == "auto" and _looks_like_hf(model, weights)):
        check_weights_choice(model, weights, pretrained, random_init)
        check_hf_family(model, weights)
        return
    check_timm_inputs(model, weights, pretrained, random_init)


def _looks_like_hf(model: str, weights) -> bool:
    """Mirrors exporters.embedding.resolve_source without importing timm: an HF directory, or an
    'org/name' id that is not 'timm/<architecture>'."""
    if weights is not None and Path(weights).is_dir() and config_model_type(Path(weights)):
        return True
    return "/" in model and not model.startswith("timm/")
