"""Local weights as a first-class source: .safetensors, .pth/.pt/.bin (weights_only), HF-style dirs.

Loading never unpickles arbitrary objects (`torch.load(weights_only=True)`), and every failure names
the file, what was expected, and the fix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from nxport.core.errors import CheckpointKeyError, WeightsError

# timm's training scripts write `model_best.pth.tar` and `checkpoint-N.pth.tar`.
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".pth.tar", ".pt.tar")
# Checked in this order inside a Hugging Face / timm-hub style directory.
DIRECTORY_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors",
                          "open_clip_pytorch_model.bin")
# Where training checkpoints keep their weights, in the order timm's load_state_dict looks (EMA first
# when asked for), plus other codebases' names for the plain weights.
EMA_KEYS = ("state_dict_ema", "model_ema")
PLAIN_KEYS = ("state_dict", "model", "model_state_dict", "module", "net")


@dataclass(frozen=True)
class WeightsFile:
    path: Path
    sha256: str
    config: dict | None  # the directory's config.json, when weights came from a directory

    @property
    def provenance(self) -> dict:
        # File name and hash only: absolute paths would make artifacts machine-specific.
        return {"file": self.path.name, "sha256": self.sha256}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def has_weight_suffix(path: Path) -> bool:
    return path.name.lower().endswith(WEIGHT_SUFFIXES)


def resolve_weights_path(path: str | Path) -> tuple[Path, dict | None]:
    """The weights file a --weights path names, and its directory's config.json; cheap (no hashing,
    no torch), so the CLI runs it before any heavy import."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(
            f"Weights path {str(path)!r} does not exist",
            fix=f"pass an existing file ({', '.join(WEIGHT_SUFFIXES)}) or a directory with config.json",
        )
    if path.is_dir():
        found = [path / name for name in DIRECTORY_WEIGHT_FILES if (path / name).is_file()]
        if not found:
            raise WeightsError(
                f"Directory {str(path)!r} holds no weights file (looked for {', '.join(DIRECTORY_WEIGHT_FILES)})",
                fix="point --weights at the weights file itself, or at a directory saved by "
                "save_pretrained / timm push_to_hub",
            )
        return found[0], _read_directory_config(path)
    if not has_weight_suffix(path):
        raise WeightsError(
            f"Weights file {str(path)!r} has suffix {path.suffix!r}; allowed: {', '.join(WEIGHT_SUFFIXES)}",
            fix="convert the checkpoint to .safetensors or a .pth state dict",
        )
    return path, None


def locate_weights(path: str | Path) -> WeightsFile:
    """Resolve a file or HF-style directory to the weights file it holds."""
    file, config = resolve_weights_path(path)
    return WeightsFile(path=file, sha256=sha256_of(file), config=config)


def _read_directory_config(directory: Path) -> dict | None:
    config_path = directory / "config.json"
    if not config_path.is_file():
        return None
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WeightsError(
            f"{str(config_path)!r} is not valid JSON ({exc})", fix="restore config.json from the model's source"
        ) from exc


def read_state_dict(weights: WeightsFile, ema: bool = False) -> dict:
    """Tensors from a weights file: a bare state dict, or a training checkpoint's plain (default) or EMA
    (`ema=True`) weights, with DDP / torch.compile key prefixes removed."""
    return read_checkpoint(weights.path, ema)[0]


def read_checkpoint(path: Path, ema: bool = False) -> tuple[dict, str | None]:
    """(tensors, the checkpoint key they came from, None for a bare state dict).

    timm's own loader (`_torch_load`: weights_only with argparse.Namespace allow-listed, as timm's
    training checkpoints carry their args) and its `clean_state_dict`. The key is chosen here rather
    than by timm.models.load_state_dict, which takes EMA weights by default and silently falls back to
    the plain ones when a checkpoint has none: the user's choice must be explicit and checked."""
    from timm.models._helpers import _torch_load, clean_state_dict

    try:
        if path.name.lower().endswith(".safetensors"):
            from safetensors.torch import load_file

            checkpoint = load_file(str(path), device="cpu")
        else:
            checkpoint = _torch_load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt / truncated / pickled objects refused by weights_only
        raise WeightsError(
            f"Cannot read weights {str(path)!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            fix="re-download or re-save the checkpoint; pickled checkpoints must hold only tensors "
            "(save model.state_dict(), or convert to .safetensors)",
        ) from exc
    key = checkpoint_key(checkpoint, path, ema)
    state = checkpoint[key] if key else checkpoint
    if not isinstance(state, dict) or not state:
        raise WeightsError(
            f"Weights {str(path)!r} hold a {type(state).__name__}, not a state dict of tensors",
            fix="save model.state_dict() rather than the model object",
        )
    tensors = {k: v for k, v in clean_state_dict(state).items() if _is_tensor(v)}
    if not tensors:
        raise WeightsError(f"Weights {str(path)!r} contain no tensors", fix="save model.state_dict()")
    return tensors, key


def checkpoint_key(checkpoint, path: Path, ema: bool) -> str | None:
    """Which entry of a training checkpoint holds the weights asked for; None: it is a bare state dict."""
    if not isinstance(checkpoint, dict):
        return None
    wrapped = [k for k in (*EMA_KEYS, *PLAIN_KEYS) if isinstance(checkpoint.get(k), dict)]
    if ema:
        found = [k for k in EMA_KEYS if k in wrapped]
        if not found:
            raise CheckpointKeyError(path, "EMA weights (state_dict_ema / model_ema)", checkpoint.keys()
                                     if wrapped else ["(a bare state dict)"],
                                     fix="drop --ema to export the checkpoint's plain weights")
        return found[0]
    plain = [k for k in PLAIN_KEYS if k in wrapped]
    if plain:
        ema_keys = [k for k in EMA_KEYS if k in wrapped]
        if ema_keys:
            from nxport.core.console import info

            info(f"{path.name} also holds EMA weights ({ema_keys[0]}); exporting {plain[0]!r}, pass --ema for those")
        return plain[0]
    if wrapped:  # only EMA weights were saved
        raise CheckpointKeyError(path, "plain weights (state_dict / model)", checkpoint.keys(),
                                 fix="pass --ema to export the checkpoint's EMA weights")
    return None


def _is_tensor(value) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


@dataclass(frozen=True)
class KeyMapping:
    method: str  # "by-name" or "by-position"
    ignored_keys: tuple[str, ...] = ()


def match_state_dict(model, state: dict, source: Path) -> tuple[dict, KeyMapping]:
    """Map checkpoint tensors onto the model's keys, by name, else by position when shapes line up.

    Position mapping exists because some published checkpoints (e.g. the efficientnet-lite0 package)
    use another codebase's key names for exactly the same tensors in the same order. It is only
    accepted when every shape matches one-to-one, and is recorded in the report.
    """
    target = model.state_dict()
    # BatchNorm's num_batches_tracked is bookkeeping, absent from many converted checkpoints.
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    wanted = {k: v for k, v in target.items() if not k.endswith("num_batches_tracked")}
    if set(state) == set(wanted):
        _check_shapes_by_name(wanted, state, source)
        return state, KeyMapping("by-name")
    if len(state) == len(wanted) and all(
        a.shape == b.shape for a, b in zip(wanted.values(), state.values())
    ):
        return dict(zip(wanted.keys(), state.values())), KeyMapping("by-position")
    missing = sorted(set(wanted) - set(state))
    unexpected = sorted(set(state) - set(wanted))
    raise WeightsError(
        f"Weights {str(source)!r} do not fit this model: {len(missing)} missing keys "
        f"(e.g. {missing[:3]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:3]}); "
        f"shapes do not line up by position either ({len(state)} vs {len(wanted)} tensors)",
        fix="check that --model names the architecture the checkpoint was trained with",
    )


def _check_shapes_by_name(wanted: dict, state: dict, source: Path) -> None:
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in wanted.items() if state[k].shape != v.shape]
    if wrong:
        key, got, expected = wrong[0]
        raise WeightsError(
            f"Weights {str(source)!r}: {len(wrong)} tensors have the wrong shape, e.g. {key!r} is "
            f"{got}, the model expects {expected}",
            fix="pass --num-classes to match the checkpoint's classifier, or check --model",
        )
