"""A natural-photo set the calibration recipes never saw, split by scene into calibration / evaluation.

Sources (all install offline from the package registries; none are the project's test photos):
- Debian `opencv-doc` (examples/data: aerial views, fruit, a squirrel, a mandrill, streets, books...),
- Debian `plasma-workspace-wallpapers` (the photographic KDE wallpapers),
- Debian `mate-backgrounds` (nature photos),
- scikit-image photos the tests do not use (brick, grass, gravel, Hubble deep field).
Fetch the .deb files with `apt-get download opencv-doc plasma-workspace-wallpapers mate-backgrounds`
and unpack them with `dpkg -x FILE ROOT` (no installation needed). Each scene gives two images (the
full frame and one seeded crop); a scene lands wholly on one side of the split, so no view of an
evaluation scene is ever used to calibrate or tune.

    python -m benchmarks.heldout_photos --root ROOT --output-dir photos/
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

OPENCV = ("aero1", "aero3", "aloeL", "apple", "baboon", "basketball1", "building", "butterfly", "fruits", "home",
          "leuvenA", "messi5", "orange", "squirrel_cls", "stuff", "ela_original", "graf1", "box_in_scene", "left",
          "smarties", "chicky_512", "licenseplate_motion", "rubberwhale1", "board", "left01")
KDE = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
       "OneStandsOut", "Path", "SafeLanding", "summer_1am")
MATE = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
        "TwoWings", "Wood", "YellowFlower")
SKIMAGE = ("brick", "grass", "gravel", "hubble_deep_field")
MAX_SIDE = 800  # photos are stored small: the artifact sees 224 x 224 anyway


def _scene_files(root: Path) -> dict[str, Path]:
    data = root / "usr/share/doc/opencv-doc/examples/data"
    files = {f"opencv_{n}": next(data.glob(f"{n}.*")) for n in OPENCV if any(data.glob(f"{n}.*"))}
    for name in KDE:
        images = sorted((root / f"usr/share/wallpapers/{name}/contents/images").glob("*.*"))
        if images:  # the largest rendition: one scene, one file
            files[f"kde_{name}"] = max(images, key=lambda p: p.stat().st_size)
    for name in MATE:
        path = root / f"usr/share/backgrounds/mate/nature/{name}.jpg"
        if path.is_file():
            files[f"mate_{name}"] = path
    return files


def _skimage_scenes():
    import skimage.data as data

    for name in SKIMAGE:
        rgb = getattr(data, name)()
        yield f"skimage_{name}", np.stack([rgb] * 3, -1) if rgb.ndim == 2 else rgb[..., :3]


def _views(img, rng):
    """The full frame and one random crop (60-90% of each side)."""
    from PIL import Image

    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    yield "full", img
    w, h = img.size
    s = rng.uniform(0.6, 0.9)
    x, y = int(rng.integers(0, w - int(w * s) + 1)), int(rng.integers(0, h - int(h * s) + 1))
    yield "crop", img.crop((x, y, x + int(w * s), y + int(h * s)))


def side_of(scene: str) -> str:
    """Calibration or evaluation, by a hash of the scene name (stable, independent of the list order)."""
    return "calibration" if hashlib.sha256(scene.encode()).digest()[0] % 2 == 0 else "evaluation"


def build(root: Path, output_dir: Path, seed: int = 0) -> dict[str, int]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    scenes = [(name, Image.open(path).convert("RGB")) for name, path in sorted(_scene_files(root).items())]
    scenes += [(name, Image.fromarray(rgb)) for name, rgb in _skimage_scenes()]
    counts = {"calibration": 0, "evaluation": 0}
    for name, img in scenes:
        side = side_of(name)
        (output_dir / side).mkdir(parents=True, exist_ok=True)
        for view, out in _views(img, rng):
            out.save(output_dir / side / f"{name}_{view}.jpg", quality=92)
            counts[side] += 1
    return counts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="folder the .deb files were unpacked into")
    parser.add_argument("--output-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    print(build(args.root, args.output_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
