"""Builders of request and ruleset documents for tests."""

from __future__ import annotations

from typing import Any

from worker.contract.request import Request


def make_request(
    input: str | None = "hello",
    output: str | None = None,
    *,
    rulesets: list[dict[str, Any]] | None = None,
    stage: str = "s",
    project: str = "tests",
    **fields: Any,
) -> Request:
    """A local-stage request by default (rulesets travel with it)."""
    return Request.model_validate(
        {
            "payload": {"input": input, "output": output},
            "prioritized_rulesets": rulesets,
            "stage_name": stage,
            "project_name": project,
            **fields,
        }
    )


def ruleset(
    *rules: tuple[str, str, Any],
    action: dict[str, Any] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """`ruleset(("metric", "gt", 0.5), action=override("no"))` -> ruleset dict."""
    body: dict[str, Any] = {
        "rules": [{"metric": m, "operator": op, "target_value": t} for m, op, t in rules]
    }
    if action is not None:
        body["action"] = action
    if description is not None:
        body["description"] = description
    return body


def override(*choices: str) -> dict[str, Any]:
    return {"type": "OVERRIDE", "choices": list(choices)}


def central(name: str, *rulesets: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A central stage definition (`create_stage` fields) with the given rulesets."""
    return {"name": name, "type": "central", "prioritized_rulesets": list(rulesets), **extra}
