"""Stage files: YAML (or JSON) documents of custom metrics and stage definitions.

project: my-app              # default project of the stages below
metrics:                     # custom keyword / regex metrics (optional)
  - {name: competitors, type: keywords, reads: output, labels: {acme: [acme corp]}}
backends:                    # a stronger model for a built-in metric (optional; docs/backends.md)
  input_toxicity: {type: onnx, path: /models/toxicity, positive_labels: [toxic]}
stages:                      # Galileo `create_stage` fields
  - name: input-guard
    type: central
    prioritized_rulesets: [...]
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from worker.contract.stage import StageDefinition
from worker.contract.validation import describe
from worker.errors import ConfigurationError, StageDefinitionError
from worker.metrics.backends.spec import BackendSpec
from worker.metrics.custom import CustomMetricSpec


class StagesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str | None = Field(default=None, description="Default project of the stages.")
    metrics: list[CustomMetricSpec] = Field(default_factory=list)
    backends: dict[str, BackendSpec] = Field(default_factory=dict)
    stages: list[StageDefinition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_definition_per_stage(self) -> Self:
        # Two definitions of one stage would publish two versions in file order, and the one
        # that wins would depend on where it sits in the file: refuse instead of guessing.
        seen: dict[tuple[str | None, str], int] = {}
        for index, stage in enumerate(self.stages):
            project = stage.project_name or (None if stage.project_id else self.project)
            key = (project or str(stage.project_id), stage.name)
            if key in seen:
                raise ValueError(
                    f"stages[{index}].name: stage {stage.name!r} is already defined by "
                    f"stages[{seen[key]}] (one definition per stage and project)"
                )
            seen[key] = index
        return self


def load_stages_file(path: str | Path) -> StagesFile:
    """Parse and validate a stages file; errors name the file and the offending field."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read stages file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise StageDefinitionError(f"{path}: not valid YAML/JSON: {exc}") from exc
    try:
        loaded = StagesFile.model_validate(document or {})
    except ValidationError as exc:
        raise StageDefinitionError(f"{path}: invalid stages file\n{describe(exc)}") from exc
    if not (loaded.stages or loaded.metrics or loaded.backends):
        # An empty file (or a misspelt one that parsed to nothing) would start a worker that
        # screens nothing; a file of only metrics/backends is fine: stages then come from the
        # registry topic.
        raise StageDefinitionError(
            f"{path}: stages: the file defines no stages (and no metrics or backends)"
        )
    return loaded
