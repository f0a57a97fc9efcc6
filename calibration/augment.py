"""Optional augmentation to stretch small calibration sets: random crops, flips and scales.

Each source image yields itself plus `copies` variants; everything is drawn from a seeded generator.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nxport.calibration.errors import InvalidOptionError


@dataclass(frozen=True)
class Augmentation:
    copies: int = 0  # extra variants per image; 0 = off
    min_crop: float = 0.5  # smallest crop side as a fraction of the image side
    flip: bool = True
    max_scale_down: float = 0.5  # variants may be downscaled to this fraction (then stretched by Nx)

    def __post_init__(self):
        if self.copies < 0 or not 0.1 <= self.min_crop <= 1.0 or not 0.1 <= self.max_scale_down <= 1.0:
            raise InvalidOptionError(f"Augmentation({self}) out of range",
                                     fix="copies >= 0, 0.1 <= min_crop <= 1, 0.1 <= max_scale_down <= 1")

    @property
    def enabled(self) -> bool:
        return self.copies > 0

    def to_dict(self) -> dict:
        return {"copies": self.copies, "min_crop": self.min_crop, "flip": self.flip,
                "max_scale_down": self.max_scale_down}


def variants(img, aug: Augmentation, rng: np.random.Generator) -> Iterator:
    """The image itself, then `aug.copies` random crop/flip/scale variants (PIL images)."""
    from PIL import Image

    yield img
    for _ in range(aug.copies):
        width, height = img.size
        side = rng.uniform(aug.min_crop, 1.0)
        w, h = max(8, int(width * side)), max(8, int(height * side))
        x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
        out = img.crop((x, y, x + w, y + h))
        if aug.flip and rng.random() < 0.5:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        scale = rng.uniform(aug.max_scale_down, 1.0)
        if scale < 0.999:
            out = out.resize((max(8, int(w * scale)), max(8, int(h * scale))), Image.Resampling.BILINEAR)
        yield out
