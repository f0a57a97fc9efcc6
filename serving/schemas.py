"""Request bodies (TEI-compatible shapes; unknown fields such as TEI's `truncate` are ignored)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputs: list[StrictStr] = Field(description="base64 images or data: URLs (or texts with kind=text); "
                                                "a single string is accepted too")
    model: StrictStr | None = Field(default=None, description="served model name; optional when one can serve")

    @field_validator("inputs", mode="before")
    @classmethod
    def _one_string(cls, value):
        return [value] if isinstance(value, str) else value


class EmbedRequest(_Request):
    normalize: StrictBool = Field(default=True, description="L2-normalize (no-op when the graph already does)")
    kind: Literal["image", "text"] | None = Field(default=None, description="default: image, or text for a "
                                                  "text-tower model")


class ClassifyRequest(_Request):
    top_k: StrictInt = Field(default=5, ge=1, le=100_000, description="labels per image, best first")
