"""nxport: timm / Hugging Face / open_clip vision models -> Nx-conformant ONNX artifacts.

The architecture is the top-level layout, lowest layer first (a layer imports only those below it):

* ``core/``        plumbing: typed errors, images, atomic writes, onnxruntime sessions, the error guard
* ``conventions/`` the Nx contract (what an artifact promises), the spec as data, the checker
* ``exporters/``   per-task exporters (classification, embeddings, CLIP)
* ``calibration/`` INT8 calibration that measures what it costs
* ``serving/``     the HTTP server
* ``nxport/``      the CLI, composed of each package's add_arguments / run
* ``benchmarks/``  measurements of all of the above
"""

from core import __version__

__all__ = ["__version__"]
