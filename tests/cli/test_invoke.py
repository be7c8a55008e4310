"""`protect invoke` and friends, run as a user runs them: the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "stages.yaml"
PROTECT = str(Path(sys.executable).with_name("protect"))


def protect(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROTECT, "--log-format", "json", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def invoke(*args: str) -> dict[str, Any]:
    result = protect("invoke", "--stages", str(EXAMPLES), *args)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _override_choices(stage: str) -> list[str]:
    document = yaml.safe_load(EXAMPLES.read_text())
    (definition,) = [s for s in document["stages"] if s["name"] == stage]
    return [c for rs in definition["prioritized_rulesets"] for c in rs["action"].get("choices", [])]


def test_ssn_prompt_is_triggered_with_an_override_choice() -> None:
    response = invoke("--stage", "input-guard", "--input", "my ssn is 123-45-6789")
    assert response["status"] == "triggered"
    assert response["text"] in _override_choices("input-guard")
    assert response["action_result"]["type"] == "OVERRIDE"
    assert "ssn" in response["metric_results"]["input_pii"]["value"]
    assert response["stage_metadata"]["stage_name"] == "input-guard"


def test_clean_prompt_is_not_triggered_and_returns_the_input() -> None:
    text = "What is the capital of France?"
    response = invoke("--stage", "input-guard", "--input", text)
    assert response["status"] == "not_triggered"
    assert response["text"] == text


def test_non_english_prompt_is_passed_through() -> None:
    text = "¿Cuál es la capital de Francia y cuántos habitantes tiene?"
    response = invoke("--stage", "input-guard", "--input", text)
    assert response["status"] == "triggered"
    assert response["action_result"]["type"] == "PASSTHROUGH"
    assert response["text"] == text


def test_output_stage_custom_metric_and_seed() -> None:
    args = (
        "--stage",
        "output-guard",
        "--input",
        "where is the log?",
        "--output",
        "See ticket OPS-1234 on build7.corp.internal",
        "--seed",
        "3",
    )
    first, second = invoke(*args), invoke(*args)
    assert first["status"] == "triggered"
    assert first["metric_results"]["internal_references"]["value"] == ["ticket", "hostname"]
    assert first["text"] == second["text"] == "Sorry, I can't share internal details."


def test_request_file_with_local_rulesets(tmp_path: Path) -> None:
    request = {
        "payload": {"input": "reach me at jane.doe@example.com"},
        "project_name": "demo-chatbot",
        "stage_name": "adhoc-local",
        "rulesets": [
            {
                "rules": [{"metric": "input_pii", "operator": "contains", "target_value": "email"}],
                "action": {"type": "OVERRIDE", "choices": ["no emails"]},
            }
        ],
        "metadata": {"user": "42"},
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    response = invoke("--request", str(path))
    assert (response["status"], response["text"]) == ("triggered", "no emails")
    assert response["metadata"] == {"user": "42"}
    assert response["stage_metadata"]["stage_type"] == "local"
    from_stdin = protect(
        "invoke", "--stages", str(EXAMPLES), "--request", "-", stdin=json.dumps(request)
    )
    assert json.loads(from_stdin.stdout)["status"] == "triggered"


def test_pinned_version_and_unknown_stage() -> None:
    assert invoke("--stage", "input-guard", "--version", "1", "--input", "hi")["status"] in (
        "not_triggered",
        "triggered",
    )
    missing = invoke("--stage", "input-guard", "--version", "9", "--input", "hi")
    assert missing["status"] == "error"
    assert "no version 9" in missing["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--stage", "input-guard"), "--input"),
        (("--request", "-"), "not valid JSON"),
        (("--stage", "input-guard", "--input", "x", "--timeout", "nan"), "timeout"),
    ],
)
def test_bad_invocations_exit_2_with_a_message(args: tuple[str, ...], message: str) -> None:
    result = protect("invoke", "--stages", str(EXAMPLES), *args, stdin="{oops")
    assert result.returncode == 2
    assert message in result.stderr


def test_invalid_stages_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "stages:\n  - name: g\n    type: central\n    prioritized_rulesets:\n"
        "      - rules: [{metric: input_pii, operator: contains}]\n"
    )
    result = protect("stages", "validate", "-f", str(path))
    assert result.returncode == 2
    assert "stages[0].prioritized_rulesets[0].rules[0]" in result.stderr
    assert "target_value" in result.stderr


def test_stages_validate_and_metrics_list() -> None:
    result = protect("stages", "validate", "-f", str(EXAMPLES))
    assert result.returncode == 0, result.stderr
    assert {json.loads(line)["stage"] for line in result.stdout.splitlines()} == {
        "input-guard",
        "output-guard",
    }
    metrics = protect("metrics", "--stages", str(EXAMPLES))
    by_name = {d["metric"]: d for d in map(json.loads, metrics.stdout.splitlines())}
    assert by_name["output_pii"]["aliases"] == ["pii"]
    assert by_name["input_language"]["value"] == "label"
    assert by_name["competitor_mentions"]["labels"] == ["competitor"]


def test_schemas_check_passes_on_the_committed_files() -> None:
    result = protect("schemas", "--check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("text", "fail_on", "code", "status"),
    [
        ("my ssn is 123-45-6789", "triggered,error", 1, "triggered"),
        ("my ssn is 123-45-6789", "ERROR", 0, "triggered"),  # any case
        ("what's the weather like?", "triggered,error", 0, "not_triggered"),
    ],
)
def test_fail_on_sets_the_exit_status_and_still_prints_the_response(
    text: str, fail_on: str, code: int, status: str
) -> None:
    result = protect(
        "invoke", "--stages", str(EXAMPLES), "--stage", "input-guard", "--input", text,
        "--fail-on", fail_on,
    )  # fmt: skip
    assert result.returncode == code, result.stderr
    assert json.loads(result.stdout)["status"] == status


def test_an_unknown_fail_on_status_is_refused() -> None:
    result = protect("invoke", "--stages", str(EXAMPLES), "--stage", "input-guard",
                     "--input", "hi", "--fail-on", "blocked")  # fmt: skip
    assert result.returncode == 2
    assert "statuses are" in result.stderr
    assert "'blocked'" in result.stderr
