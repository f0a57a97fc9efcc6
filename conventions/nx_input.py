"""Feed an image to an artifact exactly as the Nx runtime does (rules B6, B8, C1).

The camera frame is stretched (no crop, no aspect preservation) to the input's H x W, kept as RGB
(or converted to one gray channel) on the 0..255 scale, then normalized per channel with the
doc_string's means and vars, and laid out as the input declares (NCHW or NHWC).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nxport.conventions.normalization import Normalization

# Nx does not document its resize filter; bilinear is what OpenCV-based pipelines default to.
RESIZE_FILTER = "bilinear"


@dataclass(frozen=True)
class InputLayout:
    channels_first: bool
    channels: int
    height: int
    width: int

    @classmethod
    def from_shape(cls, shape) -> "InputLayout":
        """Guess the layout the way Nx tools do: dim 1 <= 3 means NCHW (rule B6)."""
        _, d1, d2, d3 = (int(d) for d in shape)
        if d1 <= 3:
            return cls(True, d1, d2, d3)
        return cls(False, d3, d1, d2)


def nx_preprocess(rgb, layout: InputLayout, norm: Normalization) -> np.ndarray:
    """uint8 RGB image (H, W, 3) or PIL image -> float32 tensor of shape (1, C, H, W) or (1, H, W, C)."""
    from PIL import Image

    img = rgb if isinstance(rgb, Image.Image) else Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    img = img.convert("L" if layout.channels == 1 else "RGB")
    img = img.resize((layout.width, layout.height), Image.Resampling.BILINEAR)
    pixels = np.asarray(img, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    means = np.asarray(norm.means, dtype=np.float32)
    stds = np.asarray(norm.vars, dtype=np.float32)
    pixels = (pixels - means) / stds
    if layout.channels_first:
        pixels = pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(pixels[None], dtype=np.float32)
