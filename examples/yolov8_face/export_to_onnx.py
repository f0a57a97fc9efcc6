"""A real YOLOv8n detector (faces and 16 other classes, 320x320) that installs offline, to an Nx
detector artifact: `bboxes-format:xyxysc;...` with `nms_sensitivity-` and `mask-` inputs.

    python examples/yolov8_face/export_to_onnx.py --output-dir build/

Writes build/yolov8n_face.onnx and build/yolov8n_face.report.json. Any `nxport export detection`
option can be appended (e.g. --split, --iou 0.5, --overwrite).
"""

import sys

from nxport.cli import main


def packaged_weights() -> str:
    # PyPI package nudenet==3.4.2 ships 320n.onnx, a raw Ultralytics 8.2.46 YOLOv8n export (18 classes,
    # FACE_FEMALE = 1, FACE_MALE = 12). Located without importing nudenet (its __init__ needs OpenCV).
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("nudenet")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("this example needs the nudenet weights: pip install --no-deps nudenet==3.4.2")
    return str(Path(list(spec.submodule_search_locations)[0]) / "320n.onnx")


if __name__ == "__main__":
    # No --input-size: the export's input is dynamic and its imgsz metadata (320x320) fixes it.
    sys.exit(main(["export", "detection", "--weights", packaged_weights(), "--name", "yolov8n_face", *sys.argv[1:]]))
