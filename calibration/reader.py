"""Calibration images streamed from a folder and fed the way the Nx runtime feeds the artifact.

Input shape and means/vars come from the artifact (the Nx way: frame stretched to H x W, RGB,
(x - means) / vars), so calibration sees what the device will see. Images are decoded one at a
time (memory stays bounded for thousands of files); undecodable files are skipped and counted.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nxport.calibration.augment import Augmentation, variants
from nxport.calibration.errors import EmptyImageFolderError, InvalidOptionError, NoDecodableImagesError, TooFewImagesError
from nxport.conventions.nx_input import nx_preprocess
from nxport.core.errors import ImageDecodeError
from nxport.core.images import IMAGE_SUFFIXES, iter_image_files, load_image


# Below this, activation ranges and GPTQ's layer statistics describe the few photos given, not the scene
# (vendors ask for 20-1024: RKNN, Hailo); three still allows a deliberate smoke run that claims nothing.
MIN_CALIBRATION_IMAGES = 3
# Fewer than this: an advice line (the vendor toolchains' own advice: 100-500 photos of the scene).
RECOMMENDED_CALIBRATION_IMAGES = 100
# A target is a claim about the share of images on which INT8 agrees with FP32. Below 30 images one image
# moves that share by more than 3 points, and even 30 of 30 agreeing has a 95% Wilson interval starting
# at 0.89: the claim would rest on noise.
MIN_EVALUATION_IMAGES_FOR_TARGET = 30


@dataclass
class ImageSet:
    """A seeded sample of the image files under a folder (recursive), plus decode bookkeeping."""

    folder: Path
    files: list[Path]
    seed: int
    augmentation: Augmentation = Augmentation()
    undecodable: dict = field(default_factory=dict)  # relative path -> its ImageDecodeError

    @classmethod
    def from_folder(cls, folder, *, max_images: int | None = None, seed: int = 0,
                    augmentation: Augmentation = Augmentation()) -> "ImageSet":
        folder = Path(folder)
        files = iter_image_files(folder, recursive=True)
        if not files:
            raise EmptyImageFolderError(folder, IMAGE_SUFFIXES)
        if max_images is not None:
            if max_images < 1:
                raise InvalidOptionError(f"max images {max_images} < 1", fix="pass --max-images 1 or more")
            if len(files) > max_images:
                files = sorted(random.Random(seed).sample(files, max_images))
        return cls(folder, files, seed, augmentation)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()

    def sha256(self) -> str:
        """Hash of the selected files' names and bytes and of the augmentation: the calibration set id."""
        digest = hashlib.sha256(repr((self.seed, sorted(self.augmentation.to_dict().items()))).encode())
        for path in self.files:
            digest.update(self.relative(path).encode() + b"\0")
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        return digest.hexdigest()

    def check_decodable(self) -> None:
        """Fail fast when not a single file decodes (stops at the first good one)."""
        for path in self.files:
            if self._decode(path) is not None:
                return
        first = self.relative(self.files[0])
        raise NoDecodableImagesError(self.folder, len(self.files), first, self.undecodable[first])

    def require(self, minimum: int, purpose: str, why: str, fix: str) -> None:
        """Refuse, before any work, a set too small for what it is used for (counts files, not variants)."""
        if len(self.files) < minimum:
            raise TooFewImagesError(self.folder, len(self.files), minimum, purpose, why, fix)

    def _decode(self, path: Path):
        try:
            return load_image(path)
        except ImageDecodeError as exc:
            self.undecodable[self.relative(path)] = exc
            return None

    def images(self) -> Iterator:
        """PIL images (with augmentation variants), one at a time, in a seeded order."""
        rng = np.random.default_rng(self.seed)
        for path in self.files:
            img = self._decode(path)
            if img is not None:
                yield from variants(img, self.augmentation, rng)

    @property
    def decoded_count(self) -> int:
        return len(self.files) - len(self.undecodable)

    def summary(self) -> dict:
        return {"files": len(self.files), "decoded": self.decoded_count, "skipped_undecodable": len(self.undecodable),
                "skipped_files": sorted(self.undecodable)[:20], "samples_per_pass":
                self.decoded_count * (1 + self.augmentation.copies), "seed": self.seed,
                "augmentation": self.augmentation.to_dict()}


def nx_tensors(images: ImageSet, artifact) -> Iterator[np.ndarray]:
    for img in images.images():
        yield nx_preprocess(img, artifact.layout, artifact.normalization)


class NxCalibrationReader:
    """onnxruntime CalibrationDataReader over a stream of Nx-preprocessed tensors.

    `chunk(n)` makes get_next() end after n more samples while the stream continues, so a
    calibrator can be fed in bounded chunks. One sample is read ahead so that `exhausted` is
    known before a chunk starts (ORT's histogram calibrators refuse an empty chunk).
    """

    def __init__(self, tensors: Iterator[np.ndarray], input_name: str, progress=None):
        self._tensors, self._input_name, self._progress = tensors, input_name, progress
        self._limit: int | None = None
        self._next = next(self._tensors, None)
        self.count = 0

    @property
    def exhausted(self) -> bool:
        return self._next is None

    def chunk(self, size: int) -> None:
        self._limit = self.count + size

    def get_next(self):
        if self._next is None or (self._limit is not None and self.count >= self._limit):
            return None
        tensor, self._next = self._next, next(self._tensors, None)
        self.count += 1
        if self._progress is not None:
            self._progress.update(1)
        return {self._input_name: tensor}

    def __iter__(self):
        while (item := self.get_next()) is not None:
            yield item
