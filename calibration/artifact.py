"""What calibration needs to know about an FP32 artifact: its contract (conventions.contract)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nxport.calibration.errors import ModelNotFoundError, NotAnNxArtifactError
from nxport.calibration.agreement import CALIBRATABLE_KINDS
from nxport.conventions.contract import Contract, read_contract
from nxport.conventions.kinds import Int8Metric
from nxport.conventions.normalization import Normalization
from nxport.conventions.nx_input import InputLayout



@dataclass(frozen=True)
class Artifact:
    path: Path
    contract: Contract

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def input_name(self) -> str:
        return self.contract.input.name

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.contract.input_shape

    @property
    def layout(self) -> InputLayout:
        return self.contract.layout

    @property
    def normalization(self) -> Normalization:
        return self.contract.normalization

    @property
    def kind(self) -> str:
        return self.contract.kind.value

    @property
    def int8_metric(self) -> Int8Metric:
        """How INT8 is compared with FP32 for this artifact's kind (conventions.kinds)."""
        return self.contract.kind_spec.int8_metric

    @property
    def is_embedding(self) -> bool:
        return self.int8_metric is Int8Metric.COSINE


def read_artifact(path: str | Path):
    """-> (Artifact, onnx.ModelProto). Refuses exactly what the checker's MUST rules refuse
    (ArtifactContractError with their rule ids), plus artifacts that are already INT8 (F3)."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(path)
    contract = read_contract(path).require("calibrated", kinds=CALIBRATABLE_KINDS)
    if contract.int8 is not None:
        raise NotAnNxArtifactError(path, f"it is already INT8 ({contract.int8.qdq_nodes} QDQ nodes; rule F3); "
                                   "calibrate the FP32 artifact it came from")
    return Artifact(path, contract), onnx.load(str(path))
