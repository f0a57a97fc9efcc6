"""nxport: timm / Hugging Face vision models -> Nx-conformant ONNX artifacts.

The architecture is the top-level layout:

* ``exporters/``   per-task exporters (classification, embeddings, CLIP)
* ``conventions/`` the Nx requirements spec as data, and the checker
* ``calibration/`` INT8 calibration that measures what it costs
* ``nxport/``      shared plumbing (errors, images, atomic writes) and the CLI
"""

__version__ = "0.1.0"
