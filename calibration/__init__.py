"""INT8 calibration of nxport artifacts: ONNX Runtime static QDQ quantization the Nx way.

    from nxport.calibration import calibrate
    result = calibrate("build/efficientnet_lite0.onnx", "photos/", eval_images="eval/", output_dir="build",
                       min_agreement=0.99, targets=("rknn",))
    python -m nxport.calibration build/efficientnet_lite0.onnx --images photos/ --eval-images eval/ --output-dir build

One engine for every calibratable kind (scores-, embedding-, bboxes-): the kind's cut (cut.py) and its
agreement metric (agreement.py) are its only parameters; quantize(recipe) returns a frozen Quantized.

Heavy imports (onnx, onnxruntime) happen inside the functions that need them.
"""

from nxport.calibration.augment import Augmentation
from nxport.calibration.recipes import DETECTOR, DEFAULT, NAIVE, CalibrationMethodName, QuantTypeName, Recipe

__all__ = ["DEFAULT", "DETECTOR", "NAIVE", "Augmentation", "CalibrationMethodName", "CalibrationResult",
           "QuantTypeName", "Recipe", "calibrate"]


def __getattr__(name):
    if name in ("calibrate", "CalibrationResult"):
        from nxport.calibration import api

        return getattr(api, name)
    raise AttributeError(name)
