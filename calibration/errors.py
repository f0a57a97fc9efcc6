"""Calibration's typed errors (subclasses of core.errors): each names the bad value and the fix."""

from __future__ import annotations

from pathlib import Path

from nxport.core.errors import ConfigError, NxportError


class CalibrationError(NxportError):
    """Bad input to calibration (exit code 2)."""


class ModelNotFoundError(CalibrationError):
    def __init__(self, path: Path):
        super().__init__(f"FP32 model {str(path)!r} does not exist or is not a file",
                         fix="pass the .onnx written by `nxport export` (e.g. build/efficientnet_lite0.onnx)")
        self.path = path


class NotAnNxArtifactError(CalibrationError):
    def __init__(self, path: Path, reason: str):
        super().__init__(f"{str(path)!r} is not an nxport/Nx artifact: {reason}",
                         fix="export the model with `nxport export ...` first; calibration reads the input "
                         "shape from the `image-` input and means/vars from graph.doc_string")
        self.path = path


class EmptyImageFolderError(CalibrationError):
    def __init__(self, folder: Path, suffixes):
        super().__init__(f"Image folder {str(folder)!r} holds no image files (looked recursively for "
                         f"{', '.join(suffixes)})",
                         fix="put calibration photos like the ones the camera will see into the folder "
                         "(Hailo suggests ~1024, RKNN 20-100)")
        self.folder = folder


class NoDecodableImagesError(CalibrationError):
    def __init__(self, folder: Path, failed: int, example: str, reason: Exception):
        # The first file's own error says why (corrupt, over the pixel limit...) and its own fix.
        fix = getattr(reason, "fix", None) or "replace the files with photos that open in an image viewer"
        detail = str(reason).split("\n", 1)[0]
        super().__init__(f"None of the {failed} image files in {str(folder)!r} could be decoded; "
                         f"e.g. {example}: {detail}", fix=fix)
        self.folder, self.failed, self.reason = folder, failed, reason


class TooFewImagesError(CalibrationError):
    def __init__(self, folder: Path, found: int, minimum: int, purpose: str, why: str, fix: str):
        super().__init__(f"{purpose} needs at least {minimum} images; {str(folder)!r} gives {found}. {why}",
                         fix=fix)
        self.folder, self.found, self.minimum = folder, found, minimum


class NothingToQuantizeError(CalibrationError):
    def __init__(self, path: Path, ops: list[str]):
        super().__init__(f"{str(path)!r} has no Conv, ConvTranspose, Gemm or MatMul: INT8 would only add "
                         f"Quantize/Dequantize pairs around {', '.join(ops[:6]) or 'nothing'} (larger and slower "
                         "than FP32, nothing gained)", fix="serve or deploy the FP32 artifact as it is")
        self.path = path


class InvalidOptionError(ConfigError):
    """An option outside its allowed range (target, percentile, image counts...)."""


class MinAgreementIsNotATargetError(ConfigError):
    """`--target 0.99`: the accuracy goal's old name. --target names an NPU in every command now."""

    def __init__(self, value):
        super().__init__(f"--target {value!r} is a number: the accuracy goal is now --min-agreement; --target names "
                         "an NPU (rknn, tidl, qnn, ryzen-ai, intel-npu, hailo8, all), as in `nxport export`",
                         fix=f"pass --min-agreement {value} (min_agreement={value}), and --target NAME for an NPU "
                         "preflight of the INT8 model")
        self.value = value


class MinAgreementMissedError(NxportError):
    """Raised by callers that want an exception rather than CalibrationResult.min_agreement_met=False."""

    exit_code = 1
