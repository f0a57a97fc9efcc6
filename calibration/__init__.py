"""INT8 calibration of nxport artifacts: ONNX Runtime static QDQ quantization the Nx way.

    from calibration import calibrate
    result = calibrate("build/efficientnet_lite0.onnx", "photos/", eval_images="eval/", output_dir="build")
    python -m calibration build/efficientnet_lite0.onnx --images photos/ --eval-images eval/ --output-dir build

Heavy imports (onnx, onnxruntime) happen inside the functions that need them.
"""

from calibration.augment import Augmentation
from calibration.recipes import DEFAULT, NAIVE, CalibrationMethodName, QuantTypeName, Recipe

__all__ = ["DEFAULT", "NAIVE", "Augmentation", "CalibrationMethodName", "CalibrationResult", "QuantTypeName",
           "Recipe", "calibrate"]


def __getattr__(name):
    if name in ("calibrate", "CalibrationResult"):
        from calibration import api

        return getattr(api, name)
    raise AttributeError(name)
