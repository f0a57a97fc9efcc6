"""nxport: timm / Hugging Face / open_clip vision models -> Nx-conformant ONNX artifacts.

One import name, one folder per layer, lowest first (a layer imports only those below it):

* ``nxport.core``         plumbing: typed errors, images, atomic writes, onnxruntime sessions, the guard
* ``nxport.conventions``  the Nx contract, the spec as data, the checker, NPU targets, CI report formats
* ``nxport.exporters``    per-task exporters (classification, embeddings, CLIP, detection)
* ``nxport.calibration``  INT8 calibration that measures what it costs
* ``nxport.serving``      the HTTP server
* ``nxport.cli``          the CLI, composed of each package's add_arguments / run

In the repository each layer is a top-level folder (``core/``, ``conventions/``...); the wheel maps them
under ``nxport/`` (setup.py).
"""

import os as _os

# A source checkout keeps the layers beside this folder; searching its root too makes `nxport.conventions`
# resolve there exactly as in the wheel, with or without an (editable) install.
_checkout = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_checkout, "setup.py")) and _os.path.isdir(_os.path.join(_checkout, "conventions")):
    __path__.append(_checkout)

from nxport.core import __version__  # noqa: E402  (once the layers can be found)

__all__ = ["__version__"]
