"""The opset and IR caps of rules A1/A2, read from the spec data once (a light import: no onnx)."""

from nxport.conventions import spec

OPSET_MIN = 11  # project: the legacy TorchScript exporter's floor
OPSET_MAX = int(spec.limit("opset_max"))  # A1 MUST
OPSET_DEFAULT = int(spec.limit("opset_tested"))  # A1 SHOULD: what Nx tests
IR_VERSION_MAX = int(spec.limit("ir_version_max"))  # A2: onnxruntime 1.17 refuses IR 10
