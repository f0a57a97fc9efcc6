"""Quantization recipes: enums for methods and types, one frozen dataclass, named presets."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, replace


class CalibrationMethodName(enum.Enum):
    MINMAX = "minmax"
    PERCENTILE = "percentile"
    ENTROPY = "entropy"


class QuantTypeName(enum.Enum):
    INT8 = "int8"
    UINT8 = "uint8"


@dataclass(frozen=True)
class Recipe:
    """One way to quantize. Defaults are our default recipe; NAIVE is the common hand-written one."""

    method: CalibrationMethodName = CalibrationMethodName.MINMAX
    per_channel: bool = True
    symmetric_activations: bool = False
    activation_type: QuantTypeName = QuantTypeName.UINT8
    # int8 symmetric weights (zero point 0): what NPUs want, and what onnxruntime 1.17 (the Nx
    # reference) can run per-channel; its QLinearConv refuses uint8 weights whose per-channel zero
    # points differ. reduce_range below avoids the int16 saturation of non-VNNI AVX2 u8s8 kernels.
    weight_type: QuantTypeName = QuantTypeName.INT8
    percentile: float = 99.999
    # 7-bit weights: x86 AVX2 without VNNI computes u8 x s8 products in int16 and saturates with full
    # 8-bit weights (onnxruntime's documented accuracy fix for non-VNNI CPUs).
    reduce_range: bool = True
    histogram_bins: int = 2048  # Entropy/Percentile; ORT's Entropy default (128) makes it equal MinMax
    keep_output_tail_float: bool = True  # Softmax / L2 normalization and the ops after the last Conv/Gemm
    excluded_nodes: tuple[str, ...] = field(default_factory=tuple)
    name: str = "default"

    def with_excluded(self, nodes, name: str | None = None) -> "Recipe":
        return replace(self, excluded_nodes=tuple(nodes), name=name or self.name)

    def calibration_key(self) -> tuple:
        """Recipes with the same key share one calibration pass (the ranges)."""
        return (self.method, self.symmetric_activations, self.percentile, self.histogram_bins)

    def to_dict(self) -> dict:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, enum.Enum):
                data[key] = value.value
        data["excluded_nodes"] = list(self.excluded_nodes)
        return data


# What users write by hand: MinMax, per-channel int8, nothing kept in float (the Softmax is quantized).
NAIVE = Recipe(activation_type=QuantTypeName.INT8, weight_type=QuantTypeName.INT8, keep_output_tail_float=False,
               reduce_range=False, name="naive")
DEFAULT = Recipe()
# What the automatic mode tries before keeping layers in float, in order.
AUTO_BASES = (
    Recipe(name="minmax-u8s8-7bit"),
    Recipe(reduce_range=False, name="minmax-u8s8"),
)
