"""Stage files load into a registry; bad files are refused with the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import ConfigurationError, StageDefinitionError, UnknownMetricError
from worker.runtime import Protect
from worker.stages.files import load_stages_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "stages.yaml"


def test_example_file_loads_with_central_stages_and_custom_metrics() -> None:
    protect = Protect.from_file(EXAMPLES)
    names = {s.name for s in protect.stages.latest()}
    assert names == {"input-guard", "output-guard"}
    assert "competitor_mentions" in protect.evaluator.metrics
    assert all(s.project_name == "demo-chatbot" for s in protect.stages.latest())


def test_invalid_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "stages:\n  - name: g\n    type: central\n    prioritized_rulesets:\n"
        "      - rules:\n          - {metric: input_pii, operator: containz, target_value: ssn}\n"
    )
    with pytest.raises(StageDefinitionError) as info:
        load_stages_file(path)
    assert "stages[0].prioritized_rulesets[0].rules[0].operator" in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_metric_is_named_with_the_stage_index(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "stages:\n  - name: ok\n    type: central\n    prioritized_rulesets: []\n"
        "  - name: g\n    type: central\n    prioritized_rulesets:\n"
        "      - rules:\n          - {metric: toxicty, operator: gt, target_value: 0.5}\n"
    )
    with pytest.raises(UnknownMetricError) as info:
        Protect.from_file(path)
    assert "stages[1].prioritized_rulesets[0].rules[0].metric" in str(info.value)
    assert "input_pii" in str(info.value)  # lists the known metrics


def test_unknown_top_level_key_and_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("stagez: []\n")
    with pytest.raises(StageDefinitionError, match="stagez"):
        load_stages_file(path)
    path.write_text("stages: [\n")
    with pytest.raises(StageDefinitionError, match="YAML"):
        load_stages_file(path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_stages_file(tmp_path / "missing.yaml")


def test_json_files_load_too(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"project": "p", "stages": [{"name": "l", "type": "local"}]}')
    (stage,) = Protect.from_file(path).stages.latest()
    assert (stage.name, stage.project_name, stage.type.value) == ("l", "p", "local")


def test_two_definitions_of_one_stage_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "project: p\nstages:\n  - {name: a, type: central}\n  - {name: b, type: central}\n"
        "  - {name: a, type: central}\n"
    )
    with pytest.raises(StageDefinitionError, match=r"stages\[2\]\.name: stage 'a'.*stages\[0\]"):
        load_stages_file(path)


def test_one_name_in_two_projects_is_two_stages(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "project: p\nstages:\n  - {name: a, type: central}\n"
        "  - {name: a, type: central, project_name: q}\n"
    )
    assert [s.name for s in load_stages_file(path).stages] == ["a", "a"]


@pytest.mark.parametrize("text", ["", "stages: []\n", "project: p\n"])
def test_a_file_that_defines_nothing_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(StageDefinitionError, match="stages: the file defines no stages"):
        load_stages_file(path)


def test_a_file_of_metrics_only_is_accepted_for_registry_stages(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "metrics:\n  - {name: c, type: keywords, reads: output, labels: {acme: [acme corp]}}\n"
    )
    assert [m.name for m in load_stages_file(path).metrics] == ["c"]
