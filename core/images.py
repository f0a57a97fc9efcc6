"""Reading photos the way a camera pipeline sees them: RGB, EXIF-upright, typed errors.

Also real photos that need no download: one ships with nxport itself (data/chelsea.png, what the
checker's runtime stage feeds, so the light install needs no photo package), the rest of the parity
set inside installed packages (scikit-image, matplotlib: the export extra).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nxport.core.errors import ImageDecodeError, ImageTooLargeError, NxportError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

# Chelsea the cat, 451x300 RGB: scikit-image 0.26.0's skimage/data/chelsea.png, byte for byte (sha256
# 596aa1e7...c4bb), "No copyright restrictions. CC0 by the photographer (Stefan van der Walt)".
SHIPPED_PHOTO = Path(__file__).resolve().parent / "data" / "chelsea.png"

# Decompression-bomb guard: a 16k x 16k frame is far beyond any camera we target.
MAX_PIXELS = 16384 * 16384


@dataclass(frozen=True)
class Photo:
    name: str
    rgb: np.ndarray  # uint8 (H, W, 3)


def _to_rgb(img, source) -> "PIL.Image.Image":  # noqa: F821
    from PIL import ImageOps

    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block should not reject an otherwise fine photo
        pass
    if img.mode in ("RGBA", "LA", "P"):
        img = img.convert("RGBA")
        from PIL import Image

        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return img.convert("RGB")


def load_image(source: str | Path | bytes) -> "PIL.Image.Image":  # noqa: F821
    """Open a photo as an upright RGB PIL image, or raise ImageDecodeError naming it."""
    from PIL import Image

    label = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    except OSError as exc:
        raise ImageDecodeError(label, exc.strerror or str(exc)) from exc
    try:
        with stream, Image.open(stream) as img:
            if img.width * img.height > pixel_limit():
                raise ImageTooLargeError(label, img.width * img.height, pixel_limit(), f"{img.width}x{img.height}")
            img.load()
            return _to_rgb(img, label)
    except ImageDecodeError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own guard fires inside open(), before ours
        raise ImageTooLargeError(label, _bomb_pixels(exc), pixel_limit()) from exc
    except Exception as exc:  # PIL raises many types for truncated / non-image data
        raise ImageDecodeError(label, f"{type(exc).__name__}: {exc}") from exc


def pixel_limit() -> int:
    """The pixels an image may have: ours, or Pillow's decompression-bomb error threshold if lower
    (Pillow refuses above twice its MAX_IMAGE_PIXELS while opening, before our check can run)."""
    from PIL import Image

    pillow = Image.MAX_IMAGE_PIXELS
    return MAX_PIXELS if pillow is None else min(MAX_PIXELS, 2 * pillow)


def _bomb_pixels(exc: Exception) -> int:
    """The pixel count Pillow's DecompressionBombError names ("Image size (N pixels) exceeds ...")."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return int(found.group(1)) if found else pixel_limit() + 1


def iter_image_files(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Image files under a folder in a stable (sorted) order."""
    root = Path(folder)
    if not root.is_dir():
        raise NxportError(
            f"Image folder {str(root)!r} does not exist or is not a directory",
            fix="pass a directory of .jpg/.png/.webp images",
        )
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def chelsea() -> np.ndarray:
    """The photo shipped with nxport (uint8 RGB (300, 451, 3)), the same pixels as skimage.data.chelsea()."""
    return np.asarray(load_image(SHIPPED_PHOTO))


def sample_photos() -> list[Photo]:
    """Real photographs shipped inside nxport and installed packages (no network)."""
    import skimage.data as data

    photos = [
        Photo("chelsea", chelsea()),
        Photo("coffee", data.coffee()),
        Photo("astronaut", data.astronaut()),
        Photo("rocket", data.rocket()),
        Photo("motorcycle", data.stereo_motorcycle()[0]),
    ]
    import matplotlib.cbook as cbook  # a dependency: the parity set must not depend on what is installed

    with cbook.get_sample_data("grace_hopper.jpg") as fh:
        photos.append(Photo("grace_hopper", np.asarray(load_image(fh.read()))))
    return photos


def iter_photos(paths: list[Path]) -> Iterator[Photo]:
    for path in paths:
        yield Photo(path.name, np.asarray(load_image(path)))
