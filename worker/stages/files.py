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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
        return StagesFile.model_validate(document or {})
    except ValidationError as exc:
        raise StageDefinitionError(f"{path}: invalid stages file\n{describe(exc)}") from exc
