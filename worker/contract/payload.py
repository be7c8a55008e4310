"""The text under evaluation."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

# "Context: ... Question: ..." style prompts (RAG templates): the labelled parts win.
_LABELLED = re.compile(
    r"^\s*(?:#+\s*)?(?:context|documents?|sources?|passages?|knowledge)\s*:?\s*\n?(?P<context>.*?)"
    r"\n\s*(?:#+\s*)?(?:question|query|user question)\s*:\s*(?P<question>.+)$",
    re.IGNORECASE | re.DOTALL,
)


class Payload(BaseModel):
    """A user's prompt (`input`) and/or the model's response (`output`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: str | None = None
    output: str | None = None
    context: str | None = Field(
        default=None,
        description="Retrieved documents the output should be grounded in (ours; for "
        "context_adherence and completeness). Without it, the context is taken from the input.",
    )

    @model_validator(mode="after")
    def _one_text(self) -> Payload:
        if not self.input and not self.output:
            # A typed error with a fixed message: a dead letter's detail can say what is wrong.
            raise PydanticCustomError(
                "payload_text_required", "payload needs a non-empty `input` or `output`"
            )
        return self

    def context_and_question(self) -> tuple[str | None, str | None]:
        """The grounding context and the question, for context adherence and completeness.

        - `context` set: it is the context, and `input` the question;
        - an input labelled `Context: ... Question: ...` (or Documents/Sources/Passages with
          Question/Query): the labelled parts;
        - otherwise the input's last paragraph is the question and what precedes it the
          context; a one-paragraph input is both.
        """
        if self.context:
            return self.context, self.input
        if not self.input:
            return None, None
        labelled = _LABELLED.match(self.input)
        if labelled:
            return labelled["context"].strip(), labelled["question"].strip()
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", self.input) if p.strip()]
        if len(paragraphs) > 1:
            return "\n\n".join(paragraphs[:-1]), paragraphs[-1]
        return self.input, self.input

    @property
    def text(self) -> str:
        """The text an action passes through: the output when set, else the input."""
        return self.output if self.output else (self.input or "")
