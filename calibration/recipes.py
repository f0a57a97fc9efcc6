"""Quantization recipes: enums for methods and types, one frozen dataclass, named presets."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, replace

from nxport.calibration.storage import WeightStorage


class CalibrationMethodName(enum.Enum):
    MINMAX = "minmax"
    MSE = "mse"  # per tensor, the range with the least quantization error on its histogram (ranges.py)
    MINMAX_MEAN = "minmax-mean"  # per-image min/max averaged (NNCF's activation default): outliers move it less
    PERCENTILE = "percentile"
    ENTROPY = "entropy"


class WeightRounding(enum.Enum):
    NEAREST = "nearest"  # each weight to its nearest grid point
    GPTQ = "gptq"  # least-squares refit on the INT8 model's own inputs + Hessian-ordered rounding (rounding.py)


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
    # Symmetric 8-bit weights, one scale per output channel (the grid NPUs use: -127..127).
    weight_type: QuantTypeName = QuantTypeName.INT8
    # How that grid is stored (calibration/storage.py): uint8 with zero point 128 computes exactly
    # on x86 CPUs without VNNI, whose fused u8 x s8 kernels saturate, and runs in onnxruntime 1.17.
    weight_storage: WeightStorage = WeightStorage.UINT8_ZP128
    percentile: float = 99.999
    # 7-bit weights: the other way around the u8 x s8 saturation; doubles weight noise. Explicit only.
    reduce_range: bool = False
    # GPTQ rounding on the INT8 model's own inputs, then bias correction (rounding.py): chosen on the
    # calibration side (2 folds, mean KL 0.0074 -> 0.0052); NEAREST is faster.
    weight_rounding: WeightRounding = WeightRounding.GPTQ
    # Per-channel bias correction fitted sequentially on the calibration images (bias_correction.py).
    bias_correction: bool = True
    # Input quantized on the device's own pixel grid (q = p exactly; calibration/input_grid.py).
    align_input_grid: bool = True
    # Calibration samples the fits (GPTQ rounding, bias correction) are made on; decoded once.
    fit_samples: int = 32
    histogram_bins: int = 2048  # Entropy/Percentile; ORT's Entropy default (128) makes it equal MinMax
    keep_output_tail_float: bool = True  # Softmax / L2 normalization and the ops after the last Conv/Gemm
    excluded_nodes: tuple[str, ...] = field(default_factory=tuple)
    # Activation tensors left unrounded (clipped to their range) while every weight stays 8-bit:
    # what the automatic mode spends first when the target is missed (calibration/float_activations.py).
    float_activations: tuple[str, ...] = field(default_factory=tuple)
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
        data["float_activations"] = list(self.float_activations)
        return data


# What users write by hand: MinMax, per-channel int8, nothing kept in float (the Softmax and logits are quantized).
NAIVE = Recipe(activation_type=QuantTypeName.INT8, weight_type=QuantTypeName.INT8, keep_output_tail_float=False,
               weight_storage=WeightStorage.INT8, bias_correction=False, align_input_grid=False,
               weight_rounding=WeightRounding.NEAREST, name="naive")
DEFAULT = Recipe()
# Detectors (bboxes-): the network up to its raw head, MinMax, per-channel int8 weights, uint8 activations,
# the box decode float (calibration.cut.DetectorHead); judged box for box, so nothing is searched.
DETECTOR = Recipe(weight_storage=WeightStorage.INT8, weight_rounding=WeightRounding.NEAREST, bias_correction=False,
                  align_input_grid=False, name="detector")
# What the automatic mode tries before keeping layers in float, in order.
AUTO_BASES = (DEFAULT,)
