"""Compare the preflight's rknn verdict with the real compiler: rknn-toolkit2 2.5.0 `load_onnx` + `build`.

rknn-toolkit2 pins torch <= 2.4, so it lives in a side venv (never the project's):

    python3 -m venv .venv-rknn
    .venv-rknn/bin/pip install --no-deps rknn-toolkit2==2.5.0
    .venv-rknn/bin/pip install "numpy==1.26.4" "onnx==1.16.2" "onnxruntime==1.19.2" "protobuf==4.25.4" \
        psutil ruamel.yaml scipy tqdm opencv-python-headless fast-histogram
    PYTHONPATH=benchmarks/npu_oracle/torch_stub .venv-rknn/bin/python benchmarks/npu_oracle/rknn_oracle.py A.onnx B.onnx

The toolkit imports torch at module level but its ONNX path does not use it: torch_stub/ stands in
(no CUDA torch download). Each model compiles in a subprocess (the toolkit logs from C++); the
layer table's Target column says which ops the RK3588 build put on the CPU. Prints one JSON line
per model: load / build return codes and the CPU op types.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

# "D RKNN: [time] 12   Conv   FLOAT16  NPU   (1,3,...)": id, op type, dtype, target
_LAYER = re.compile(r"RKNN: \[[^\]]+\]\s+\d+\s+(\w+)\s+\w+\s+(NPU|CPU)\s")
_IO_OPS = ("InputOperator", "OutputOperator")


def compile_one(path: str, platform: str) -> None:
    from rknn.api import RKNN

    rknn = RKNN(verbose=True)
    rknn.config(target_platform=platform)
    load = rknn.load_onnx(model=path)
    build = rknn.build(do_quantization=False) if load == 0 else None
    rknn.release()
    print(f"ORACLE {json.dumps({'load': load, 'build': build})}", flush=True)


def run(path: str, platform: str = "rk3588") -> dict:
    proc = subprocess.run([sys.executable, __file__, "--one", path, platform], capture_output=True, text=True,
                          timeout=600)
    log = proc.stdout + proc.stderr
    result = next((json.loads(line.split("ORACLE ", 1)[1]) for line in log.splitlines() if "ORACLE " in line),
                  {"load": None, "build": None})
    cpu = sorted({m.group(1) for m in _LAYER.finditer(log) if m.group(2) == "CPU" and m.group(1) not in _IO_OPS})
    errors = [line.strip()[:300] for line in log.splitlines() if line.lstrip().startswith(("E ", "\x1b[1;31mE"))]
    ok = result.get("load") == 0 and result.get("build") == 0
    return {"model": path, "compiled": ok, **result, "cpu_ops": cpu, "errors": errors[:5]}


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        compile_one(sys.argv[2], sys.argv[3])
    else:
        for model in sys.argv[1:]:
            print(json.dumps(run(model)), flush=True)
