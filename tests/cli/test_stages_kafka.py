"""`protect stages apply | list | show | history | pause | resume` against a real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.brokers import Broker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "stages.yaml"
PROTECT = str(Path(sys.executable).with_name("protect"))

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def protect(tansu: Broker, topic_factory: Callable[[str], str]) -> Run:
    """Run `protect` against the session broker, on a topic of this test's own."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": tansu.bootstrap_servers,
        "PROTECT_STAGES_TOPIC": topic_factory("stages"),
    }
    env.pop("PROTECT_PROJECT", None)
    env.pop("PROTECT_KAFKA_BOOTSTRAP_SERVERS", None)

    def run(*args: str, env_update: dict[str, str | None] | None = None) -> Any:
        full = {**env, **(env_update or {})}
        return subprocess.run(
            [PROTECT, "--log-format", "json", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env={k: v for k, v in full.items() if v is not None},
        )

    return run


def lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def created(result: subprocess.CompletedProcess[str]) -> dict[str, tuple[int, bool]]:
    return {line["stage"]: (line["version"], line["created"]) for line in lines(result)}


def modified_examples(tmp_path: Path) -> Path:
    """examples/stages.yaml with one override choice of input-guard changed."""
    document = yaml.safe_load(EXAMPLES.read_text("utf-8"))
    (stage,) = [s for s in document["stages"] if s["name"] == "input-guard"]
    stage["prioritized_rulesets"][0]["action"]["choices"] = ["Changed by governance."]
    path = tmp_path / "stages.yaml"
    path.write_text(yaml.safe_dump(document), "utf-8")
    return path


def test_apply_versions_show_history_and_list(protect: Run, tmp_path: Path) -> None:
    assert created(protect("stages", "apply", "-f", str(EXAMPLES))) == {
        "input-guard": (1, True),
        "output-guard": (1, True),
    }
    assert created(protect("stages", "apply", "-f", str(EXAMPLES))) == {
        "input-guard": (1, False),
        "output-guard": (1, False),
    }
    changed = modified_examples(tmp_path)
    assert created(protect("stages", "apply", "-f", str(changed))) == {
        "input-guard": (2, True),
        "output-guard": (1, False),
    }

    (v1,) = lines(protect("stages", "show", "input-guard", "--version", "1"))
    assert v1["prioritized_rulesets"][0]["action"]["choices"] != ["Changed by governance."]
    (latest,) = lines(protect("stages", "show", "input-guard"))
    assert (latest["version"], latest["project_name"]) == (2, "demo-chatbot")
    assert latest["prioritized_rulesets"][0]["action"]["choices"] == ["Changed by governance."]
    history = lines(protect("stages", "history", "input-guard", "--project", "demo-chatbot"))
    assert [h["version"] for h in history] == [1, 2]
    listed = lines(protect("stages", "list"))
    assert [(s["stage"], s["version"]) for s in listed] == [("input-guard", 2), ("output-guard", 1)]


def test_pause_and_resume(protect: Run) -> None:
    lines(protect("stages", "apply", "-f", str(EXAMPLES)))
    (paused,) = lines(protect("stages", "pause", "output-guard"))
    assert (paused["paused"], paused["changed"]) == (True, True)
    (again,) = lines(protect("stages", "pause", "output-guard"))
    assert again["changed"] is False
    (shown,) = lines(protect("stages", "show", "output-guard", "--version", "1"))
    assert shown["paused"] is True
    by_name = {s["stage"]: s["paused"] for s in lines(protect("stages", "list"))}
    assert by_name == {"input-guard": False, "output-guard": True}
    (resumed,) = lines(protect("stages", "resume", "output-guard"))
    assert (resumed["paused"], resumed["changed"]) == (False, True)


def test_an_invalid_file_is_refused_with_the_field_named_and_nothing_published(
    protect: Run, tmp_path: Path
) -> None:
    document = yaml.safe_load(EXAMPLES.read_text("utf-8"))
    document["stages"][1]["prioritized_rulesets"][0]["rules"][0]["operator"] = "resembles"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(document), "utf-8")
    result = protect("stages", "apply", "-f", str(bad))
    assert result.returncode == 2
    assert "stages[1].prioritized_rulesets[0].rules[0].operator" in result.stderr
    assert lines(protect("stages", "list")) == []


def test_a_stage_name_in_two_projects_needs_the_project(protect: Run) -> None:
    lines(protect("stages", "apply", "-f", str(EXAMPLES)))
    lines(protect("stages", "apply", "-f", str(EXAMPLES), "--project", "other-app"))
    result = protect("stages", "show", "input-guard")
    assert result.returncode == 1
    assert "demo-chatbot" in result.stderr
    assert "other-app" in result.stderr
    (shown,) = lines(protect("stages", "show", "input-guard", "--project", "other-app"))
    assert shown["project_name"] == "other-app"


def test_unknown_stage_and_missing_cluster_fail_with_a_message(protect: Run) -> None:
    result = protect("stages", "show", "no-such-stage")
    assert result.returncode == 1
    assert "no-such-stage" in result.stderr
    result = protect("stages", "list", env_update={"KAFKA_BOOTSTRAP_SERVERS": None})
    assert result.returncode == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in result.stderr


def test_list_is_quiet_about_custom_metrics_and_group_chatter(protect: Run) -> None:
    # examples/stages.yaml's output-guard uses its custom metric `internal_references`: `list`
    # reads the registry without the file, and has no reason to warn about it.
    assert protect("stages", "apply", "-f", str(EXAMPLES)).returncode == 0
    result = protect("stages", "list")
    assert result.returncode == 0
    assert len(lines(result)) == 2
    assert result.stderr == ""
