"""What calibration needs to know about an FP32 artifact, read from the artifact itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from calibration.errors import ModelNotFoundError, NotAnNxArtifactError
from conventions.names import parse_output_name
from conventions.normalization import DocStringError, Normalization, parse_doc_string
from conventions.nx_input import InputLayout

IMAGE_INPUT = "image-"


@dataclass(frozen=True)
class Artifact:
    path: Path
    input_name: str
    input_shape: tuple[int, ...]
    layout: InputLayout
    normalization: Normalization
    output_names: tuple[str, ...]
    kind: str  # "scores", "embedding" or another output kind

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def is_embedding(self) -> bool:
        return self.kind == "embedding"


def load_model(path: Path):
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # protobuf raises several types for non-ONNX bytes
        raise NotAnNxArtifactError(path, f"not a readable ONNX file ({type(exc).__name__})") from exc


def read_artifact(path: str | Path):
    """-> (Artifact, onnx.ModelProto). Refuses files that do not carry the Nx input contract."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(path)
    model = load_model(path)
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    image = [i for i in inputs if i.name == IMAGE_INPUT]
    if not image:
        raise NotAnNxArtifactError(path, f"no input named {IMAGE_INPUT!r} (inputs: {[i.name for i in inputs]})")
    dims = image[0].type.tensor_type.shape.dim
    if len(dims) != 4 or not all(d.HasField("dim_value") and d.dim_value > 0 for d in dims):
        raise NotAnNxArtifactError(path, "the `image-` input is not a static rank-4 shape (rules B1, B4)")
    try:
        normalization = parse_doc_string(model.graph.doc_string)
    except DocStringError as exc:
        raise NotAnNxArtifactError(path, f"{exc} (rule C2)") from exc
    shape = tuple(d.dim_value for d in dims)
    outputs = tuple(o.name for o in model.graph.output)
    kind = parse_output_name(outputs[0]).kind or "unknown"
    return Artifact(path, IMAGE_INPUT, shape, InputLayout.from_shape(shape), normalization, outputs, kind), model
