"""timm resnet18 (the classic Nx example) to an Nx classifier artifact.

    python examples/resnet18/export_to_onnx.py --output-dir build/                     # hub weights
    python examples/resnet18/export_to_onnx.py --output-dir build/ --weights r18.safetensors
    python examples/resnet18/export_to_onnx.py --output-dir build/ --random-init       # structure only

Without network and without --weights it stops with a clear message; it never exports random
weights unless --random-init is given.
"""

import sys

from nxport.cli import main

if __name__ == "__main__":
    user_args = sys.argv[1:]
    source = [] if {"--weights", "--random-init"} & set(user_args) else ["--pretrained"]
    sys.exit(main(["export", "classification", "--model", "resnet18", *source, *user_args]))
