"""The Nx reference environment (onnxruntime 1.17 + sclblonnx 0.3.0 in .venv-nx-reference) and its probes."""
