"""Galileo's metric and scorer names: each one we compute resolves, each other one is refused
with the reason. Compared with the enums of the installed packages, so a name Galileo adds or
drops is noticed here."""

from __future__ import annotations

import pytest
from galileo.resources.models.core_scorer_name import CoreScorerName
from galileo_core.constants.scorers import Scorers
from galileo_core.schemas.shared.scorers.scorer_name import (
    LegacyGPTScorerNameMapping,
    ScorerName,
)

from worker.contract.rules import Ruleset
from worker.errors import UnknownMetricError
from worker.metrics.builtin import default_registry
from worker.metrics.registry import GALILEO_ALIASES, GALILEO_NOT_COMPUTED, MetricRegistry


def galileo_names() -> set[str]:
    """Every metric name Galileo's packages define: galileo's CoreScorerName, galileo-core's
    ScorerName (values and member names, e.g. `input_sexism`), its legacy GPT names and its
    older `Scorers` wire names (e.g. `adherence_nli`)."""
    names = {m.value for m in CoreScorerName}
    names |= {m.value for m in ScorerName} | set(ScorerName.__members__)
    names |= set(LegacyGPTScorerNameMapping)
    names |= {m.value for m in Scorers}
    return names


@pytest.fixture(scope="module")
def registry() -> MetricRegistry:
    return default_registry()


def test_every_galileo_name_is_computed_or_refused_with_a_reason(
    registry: MetricRegistry,
) -> None:
    unclassified = sorted(
        name
        for name in galileo_names()
        if name not in registry and name not in GALILEO_NOT_COMPUTED
    )
    assert not unclassified, (
        f"Galileo names neither computed nor in GALILEO_NOT_COMPUTED: {unclassified}"
    )


def test_the_not_computed_list_holds_only_galileo_names_that_do_not_resolve(
    registry: MetricRegistry,
) -> None:
    assert set(GALILEO_NOT_COMPUTED) <= galileo_names(), "stale names in GALILEO_NOT_COMPUTED"
    assert not [name for name in GALILEO_NOT_COMPUTED if name in registry]
    # And our aliases are Galileo's names (or the legacy ones the semantics page lists).
    assert set(GALILEO_ALIASES) <= galileo_names()


def test_adherence_nli_resolves_to_context_adherence(registry: MetricRegistry) -> None:
    assert Scorers.context_adherence_luna.value == "adherence_nli"
    assert registry.resolve("adherence_nli").name == "context_adherence"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("action_advancement", "agent's trace"),
        ("action_completion", "agent's trace"),
        ("tool_error_rate", "agent's trace"),
        ("tool_selection_quality", "agent's trace"),
        ("agentic_session_success", "agent's trace"),
        ("agentic_workflow_success", "agent's trace"),
        ("correctness", "LLM-judge metric"),
        ("instruction_adherence", "LLM-judge metric"),
        ("ground_truth_adherence", "ground-truth answer"),
        ("chunk_attribution_utilization", "retrieved chunks"),
        ("chunk_attribution_utilization_luna", "retrieved chunks"),
        ("tool_error_rate_luna", "agent's trace"),
        ("input_toxicity_gpt", "use 'input_toxicity'"),
        ("groundedness", "use 'context_adherence'"),
        ("context_adherence_vision", "image or audio"),
    ],
)
def test_a_galileo_metric_we_do_not_compute_is_refused_with_the_reason(
    registry: MetricRegistry, name: str, reason: str
) -> None:
    rulesets = _rulesets(name)
    with pytest.raises(UnknownMetricError) as info:
        registry.validate_rulesets(rulesets)
    message = str(info.value)
    assert message.startswith("prioritized_rulesets[0].rules[0].metric: ")
    assert f"{name!r} is a Galileo metric this project does not compute" in message
    assert reason in message
    assert "unknown metric" not in message
    assert info.value.not_computed == GALILEO_NOT_COMPUTED[name]


def test_a_name_nobody_knows_is_still_an_unknown_metric(registry: MetricRegistry) -> None:
    with pytest.raises(UnknownMetricError, match="unknown metric 'input_pi'") as info:
        registry.validate_rulesets(_rulesets("input_pi"))
    assert info.value.not_computed is None


def _rulesets(metric: str) -> list[Ruleset]:
    return [
        Ruleset.model_validate(
            {"rules": [{"metric": metric, "operator": "gt", "target_value": 0.5}]}
        )
    ]
