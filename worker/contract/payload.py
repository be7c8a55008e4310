"""The text under evaluation."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class Payload(BaseModel):
    """A user's prompt (`input`) and/or the model's response (`output`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str | None = None
    output: str | None = None

    @model_validator(mode="after")
    def _one_text(self) -> Payload:
        if not self.input and not self.output:
            raise ValueError("payload needs a non-empty `input` or `output`")
        return self

    @property
    def text(self) -> str:
        """The text an action passes through: the output when set, else the input."""
        return self.output if self.output else (self.input or "")
