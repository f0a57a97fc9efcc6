"""Local weights as a first-class source: .safetensors, .pth/.pt/.bin (weights_only), HF-style dirs.

Loading never unpickles arbitrary objects (`torch.load(weights_only=True)`), and every failure names
the file, what was expected, and the fix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import WeightsError

WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
# Checked in this order inside a Hugging Face / timm-hub style directory.
DIRECTORY_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors",
                          "open_clip_pytorch_model.bin")
# Common wrappers around the actual state dict in training checkpoints.
CHECKPOINT_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module", "net")


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


def locate_weights(path: str | Path) -> WeightsFile:
    """Resolve a file or HF-style directory to the weights file it holds."""
    path = Path(path)
    if not path.exists():
        raise WeightsError(
            f"Weights path {str(path)!r} does not exist",
            fix=f"pass an existing file ({', '.join(WEIGHT_SUFFIXES)}) or a directory with config.json",
        )
    config = None
    if path.is_dir():
        config = _read_directory_config(path)
        found = [path / name for name in DIRECTORY_WEIGHT_FILES if (path / name).is_file()]
        if not found:
            raise WeightsError(
                f"Directory {str(path)!r} holds no weights file (looked for {', '.join(DIRECTORY_WEIGHT_FILES)})",
                fix="point --weights at the weights file itself, or at a directory saved by "
                "save_pretrained / timm push_to_hub",
            )
        path = found[0]
    elif path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise WeightsError(
            f"Weights file {str(path)!r} has suffix {path.suffix!r}; allowed: {', '.join(WEIGHT_SUFFIXES)}",
            fix="convert the checkpoint to .safetensors or a .pth state dict",
        )
    return WeightsFile(path=path, sha256=sha256_of(path), config=config)


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


def read_state_dict(weights: WeightsFile) -> dict:
    """Read tensors from a weights file; checkpoint wrappers are unwrapped."""
    path = weights.path
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            import torch

            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt / truncated / pickled objects refused by weights_only
        raise WeightsError(
            f"Cannot read weights {str(path)!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
            fix="re-download or re-save the checkpoint; pickled checkpoints must hold only tensors "
            "(save model.state_dict(), or convert to .safetensors)",
        ) from exc
    return _unwrap(state, path)


def _unwrap(state, path: Path) -> dict:
    import torch

    for key in CHECKPOINT_WRAPPER_KEYS:
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not state:
        raise WeightsError(
            f"Weights {str(path)!r} hold a {type(state).__name__}, not a state dict of tensors",
            fix="save model.state_dict() rather than the model object",
        )
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"Weights {str(path)!r} contain no tensors", fix="save model.state_dict()")
    # DataParallel / DDP checkpoints prefix every key with 'module.'.
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return tensors


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
