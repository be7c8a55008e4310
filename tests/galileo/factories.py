"""Stages, rulesets and payloads built with Galileo's classes (galileo-core 4.5, galileo 2.7)."""

from __future__ import annotations

from typing import Any

from galileo_core.schemas.protect.action import OverrideAction, PassthroughAction
from galileo_core.schemas.protect.rule import Rule, RuleOperator
from galileo_core.schemas.protect.ruleset import Ruleset
from galileo_core.schemas.protect.stage import StageType
from galileo_core.schemas.protect.subscription_config import SubscriptionConfig

from tests.galileo.sdk import stages_create_body

# A Galileo project id is a UUID4 (galileo-core validates the version).
PROJECT_ID = "6f1c1f0e-2b7a-4c8e-9d4f-0a1b2c3d4e5f"
PROJECT_NAME = "galileo-app"
CENTRAL = "prompt-guard"
LOCAL = "chat-local"
WEAPONS_REFUSAL = "I can't help with weapons."
HOOK = "https://hooks.example.com/protect"

# A custom keyword metric: instant and deterministic, so tests pay for no model.
BANNED_TOPICS: dict[str, Any] = {
    "name": "banned_topics",
    "type": "keywords",
    "reads": "input",
    "labels": {"weapons": ["bomb", "rifle"], "gambling": ["casino"]},
}


def weapons_ruleset() -> Ruleset:
    return Ruleset(
        rules=[Rule(metric="banned_topics", operator=RuleOperator.any, target_value=["weapons"])],
        action=OverrideAction(
            choices=[WEAPONS_REFUSAL],
            subscriptions=[SubscriptionConfig(url=HOOK)],
        ),
        description="weapons",
    )


def gambling_ruleset() -> Ruleset:
    # `action=None`: galileo-core turns a falsy action into a passthrough.
    return Ruleset(
        rules=[
            Rule(metric="banned_topics", operator=RuleOperator.contains, target_value="gambling")
        ],
        action=None,
    )


def any_topic_ruleset() -> Ruleset:
    return Ruleset(
        rules=[Rule(metric="banned_topics", operator=RuleOperator.not_empty, target_value=None)],
        action=PassthroughAction(),
    )


def stages_document() -> dict[str, Any]:
    """A stages file whose stages are the bodies galileo's `Stages.create` sends."""
    return {
        "project": PROJECT_NAME,
        "metrics": [BANNED_TOPICS],
        "stages": [
            stages_create_body(
                project_id=PROJECT_ID,
                name=CENTRAL,
                stage_type=StageType.central,
                prioritized_rulesets=[weapons_ruleset(), gambling_ruleset()],
                description="Screens prompts",
            ),
            stages_create_body(project_id=PROJECT_ID, name=LOCAL),
        ],
    }
