"""The committed JSON Schema files are exactly what the models generate."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from worker.contract.jsonschema import SCHEMAS, render_all

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_matches_models(name: str) -> None:
    path = SCHEMA_DIR / name
    assert path.exists(), f"{path} is missing: run `protect schemas`"
    assert path.read_text("utf-8") == render_all()[name], (
        f"{name} drifted from the models: run `protect schemas` and commit the result"
    )


def test_schemas_accept_real_records_and_reject_bad_ones() -> None:
    request_schema = json.loads((SCHEMA_DIR / "request.schema.json").read_text("utf-8"))
    jsonschema.validate(
        {
            "payload": {"input": "hi"},
            "stage_name": "s",
            "project_name": "p",
            "rulesets": [
                {"rules": [{"metric": "pii", "operator": "contains", "target_value": "ssn"}]}
            ],
        },
        request_schema,
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"payload": {"input": "hi"}, "timeout": "soon"}, request_schema)
