"""The result of quantizing with one recipe: returned, never stored on the engine.

Everything the report says about an INT8 model comes from its own `Quantized` (the automatic search
returns the one it chose), so no report can describe the fits of a candidate that was discarded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from nxport.calibration.recipes import Recipe


@dataclass(frozen=True)
class Quantized:
    recipe: Recipe
    model: bytes  # the finished INT8 artifact (Nx names, metadata, the `nxport.int8` stamp)
    float_nodes: tuple[str, ...]  # nodes left float: the cut's float tail (if kept) and the recipe's exclusions
    scope: str  # what the cut quantized (calibration.cut)
    input_grid: dict | None = None  # calibration.input_grid.align_input_grid's record, when the recipe asks
    weight_rounding: dict | None = None  # calibration.rounding.round_weights' record (GPTQ)
    bias_correction: dict | None = None  # calibration.bias_correction.correct_biases' record

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.model).hexdigest()
