"""CLIP ViT-B/32 as a matched pair of Nx artifacts (+ an optional zero-shot classifier).

    python examples/clip/export_to_onnx.py --output-dir build/ --random-init            # structure only
    python examples/clip/export_to_onnx.py --output-dir build/ --weights clip-vit-base-patch32/
    python examples/clip/export_to_onnx.py --output-dir build/ --weights open_clip_vit_b32.bin \\
        --model ViT-B-32 --source open_clip
    ... --zero-shot "cat,dog,car"            (or a labels file) also writes clip_vit_b32_zeroshot.onnx

Writes clip_vit_b32_img.onnx, clip_vit_b32_txt.onnx, clip_vit_b32_tokenizer/ and clip_vit_b32.report.json.
No CLIP weights install offline: get them on a machine with internet with
`hf download openai/clip-vit-base-patch32 --local-dir clip-vit-base-patch32`.
"""

import sys

from nxport.cli import main

if __name__ == "__main__":
    user_args = sys.argv[1:]
    model = [] if "--model" in user_args else ["--model", "openai/clip-vit-base-patch32"]
    sys.exit(main(["export", "clip", *model, "--name", "clip_vit_b32", *user_args]))
