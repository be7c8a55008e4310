"""The metric registry with the built-in and custom metrics: names, aliases, stage validation."""

from __future__ import annotations

from typing import Any

import pytest

from worker.contract.rules import Rule, Ruleset, TargetValue
from worker.contract.statuses import RuleOperator
from worker.errors import MetricConfigError, UnknownMetricError
from worker.metrics.base import ValueKind
from worker.metrics.builtin import builtin_scorers, default_registry
from worker.metrics.custom import CustomMetricSpec, CustomScorer
from worker.metrics.language import InputLanguage
from worker.metrics.pii import InputPii, OutputPii
from worker.metrics.registry import GALILEO_ALIASES, MetricRegistry, can_trigger

BUILTIN = [
    "completeness",
    "context_adherence",
    "input_language",
    "input_pii",
    "input_secrets",
    "input_sexist",
    "input_tone",
    "input_toxicity",
    "output_language",
    "output_pii",
    "output_secrets",
    "output_sexist",
    "output_tone",
    "output_toxicity",
    "prompt_injection",
]


def rulesets(*rules: tuple[str, str, TargetValue]) -> list[Ruleset]:
    return [
        Ruleset(
            rules=[
                Rule(metric=metric, operator=RuleOperator(op), target_value=target)
                for metric, op, target in rules
            ]
        )
    ]


@pytest.fixture(scope="module")
def registry() -> MetricRegistry:
    return default_registry(
        [CustomMetricSpec(name="topics", type="keywords", labels={"politics": ["election"]})]
    )


def test_builtin_scorers_are_fresh_instances() -> None:
    first, second = builtin_scorers(), builtin_scorers()
    assert sorted(s.name for s in first) == BUILTIN
    assert all(a is not b for a, b in zip(first, second, strict=True))


def test_default_registry_holds_builtins_and_custom(registry: MetricRegistry) -> None:
    assert sorted(s.name for s in registry) == [*BUILTIN[:2], *BUILTIN[2:], "topics"]
    assert isinstance(registry.resolve("topics"), CustomScorer)
    assert sorted(s.name for s in default_registry()) == BUILTIN


def test_legacy_pii_alias_resolves_to_output_pii(registry: MetricRegistry) -> None:
    assert isinstance(registry.resolve("pii"), OutputPii)
    assert registry.resolve("pii") is registry.resolve("output_pii")
    assert registry.canonical("pii") == "output_pii"
    assert "pii" in registry
    assert isinstance(registry.resolve("input_pii"), InputPii)


def test_names_list_only_aliases_that_resolve() -> None:
    registry = MetricRegistry([InputPii(), OutputPii()])
    names = registry.names()
    assert "pii" in names
    assert "toxicity" not in names  # no toxicity scorer registered here
    assert "toxicity" not in registry


def test_unknown_metric_lists_known_names_and_names_the_field(registry: MetricRegistry) -> None:
    with pytest.raises(UnknownMetricError) as info:
        registry.validate_rulesets(
            rulesets(("input_pii", "not_empty", None), ("toxicty", "gt", 0.5))
        )
    error = info.value
    assert error.metric == "toxicty"
    assert error.field == "prioritized_rulesets[0].rules[1].metric"
    message = str(error)
    assert message.startswith("prioritized_rulesets[0].rules[1].metric: unknown metric 'toxicty'")
    for name in [*BUILTIN, "pii", "topics"]:
        assert name in message


def test_valid_rules_give_no_warnings(registry: MetricRegistry) -> None:
    warnings = registry.validate_rulesets(
        rulesets(
            ("pii", "contains", "ssn"),
            ("input_pii", "any", ["email", "phone_number"]),
            ("output_pii", "not_empty", None),
            ("input_language", "neq", "en"),
            ("output_language", "any", ["fr", "de"]),
            ("topics", "contains", "politics"),
        )
    )
    assert warnings == []


@pytest.mark.parametrize(
    ("kind", "operator", "target", "expected"),
    [
        (ValueKind.SCORE, "gt", 0.5, True),
        (ValueKind.SCORE, "lte", 1, True),
        (ValueKind.SCORE, "eq", 0.0, True),
        (ValueKind.SCORE, "gt", "0.5", False),
        (ValueKind.SCORE, "gt", True, False),
        (ValueKind.SCORE, "contains", "x", False),
        (ValueKind.SCORE, "empty", None, False),
        (ValueKind.LABEL, "eq", "en", True),
        (ValueKind.LABEL, "neq", "en", True),
        (ValueKind.LABEL, "any", ["en", "fr"], True),
        (ValueKind.LABEL, "eq", ["en"], False),
        (ValueKind.LABEL, "contains", "en", False),
        (ValueKind.LABEL, "gt", 0.5, False),
        (ValueKind.LABEL, "not_empty", None, False),
        (ValueKind.LABELS, "contains", "ssn", True),
        (ValueKind.LABELS, "all", ["ssn", "email"], True),
        (ValueKind.LABELS, "any", [], True),
        (ValueKind.LABELS, "empty", None, True),
        (ValueKind.LABELS, "not_empty", None, True),
        (ValueKind.LABELS, "eq", "ssn", False),
        (ValueKind.LABELS, "neq", "ssn", False),
        (ValueKind.LABELS, "contains", ["ssn"], False),
        (ValueKind.LABELS, "gt", 0, False),
    ],
)
def test_can_trigger_table(kind: ValueKind, operator: str, target: Any, expected: bool) -> None:
    assert can_trigger(kind, RuleOperator(operator), target) is expected


def test_rule_that_can_never_trigger_warns(registry: MetricRegistry) -> None:
    # Galileo's docs show `eq` against PII; galileo-core never triggers it on a list value.
    warnings = registry.validate_rulesets(
        rulesets(("input_pii", "not_empty", None), ("pii", "eq", "ssn"))
    )
    assert len(warnings) == 1
    (warning,) = warnings
    assert warning.field == "prioritized_rulesets[0].rules[1]"
    assert "can never trigger" in warning.message
    assert "a list of labels" in warning.message


def test_label_outside_the_vocabulary_warns(registry: MetricRegistry) -> None:
    warnings = registry.validate_rulesets(
        rulesets(
            ("input_pii", "any", ["ssn", "social_security_number"]),
            ("input_language", "eq", "english"),
            ("topics", "contains", "sports"),
        )
    )
    assert [w.field for w in warnings] == [
        "prioritized_rulesets[0].rules[0].target_value",
        "prioritized_rulesets[0].rules[1].target_value",
        "prioritized_rulesets[0].rules[2].target_value",
    ]
    assert "'social_security_number' not among 'input_pii' labels" in warnings[0].message
    assert "'ssn'" not in warnings[0].message.split(" not among")[0]
    assert "'english' not among 'input_language' labels" in warnings[1].message
    assert "'sports' not among 'topics' labels (politics)" in warnings[2].message


def test_custom_metric_named_like_a_builtin_is_rejected() -> None:
    spec = CustomMetricSpec(name="input_pii", type="keywords", labels={"x": ["y"]})
    with pytest.raises(MetricConfigError, match=r"metrics\[input_pii\]: 'input_pii' is a built-in"):
        default_registry([spec])


def test_custom_metric_named_like_a_galileo_alias_is_rejected() -> None:
    assert "toxicity" in GALILEO_ALIASES
    spec = CustomMetricSpec(name="toxicity", type="keywords", labels={"x": ["y"]})
    with pytest.raises(MetricConfigError, match=r"metrics\[toxicity\]: .*Galileo alias"):
        default_registry([spec])


def test_custom_metric_with_a_bad_pattern_is_rejected() -> None:
    spec = CustomMetricSpec(name="banned", type="regex", labels={"secret": ["ok", "(?=x)"]})
    with pytest.raises(MetricConfigError, match=r"^metrics\[banned\]\.labels\.secret\[1\]: "):
        default_registry([spec])


def test_language_labels_are_checked_without_loading_the_model() -> None:
    # The vocabulary is a constant: validating a stage must not pay for the model.
    assert InputLanguage.labels is not None
    assert "en" in InputLanguage.labels


# The semantics page's metric table: every name (aliases included) and its value kind.
SEMANTICS_TABLE: dict[str, ValueKind] = {
    "input_pii": ValueKind.LABELS,
    "output_pii": ValueKind.LABELS,
    "pii": ValueKind.LABELS,
    "prompt_injection": ValueKind.LABELS,
    "input_toxicity": ValueKind.SCORE,
    "output_toxicity": ValueKind.SCORE,
    "toxicity": ValueKind.SCORE,
    "input_sexist": ValueKind.SCORE,
    "output_sexist": ValueKind.SCORE,
    "input_sexism": ValueKind.SCORE,
    "output_sexism": ValueKind.SCORE,
    "sexist": ValueKind.SCORE,
    "input_tone": ValueKind.LABEL,
    "output_tone": ValueKind.LABEL,
    "tone": ValueKind.LABEL,
    "context_adherence": ValueKind.SCORE,
    "context_adherence_luna": ValueKind.SCORE,
    "completeness": ValueKind.SCORE,
}


@pytest.mark.parametrize(("name", "kind"), sorted(SEMANTICS_TABLE.items()))
def test_every_metric_of_the_semantics_table_resolves_with_its_value_kind(
    name: str, kind: ValueKind
) -> None:
    assert default_registry().resolve(name).kind is kind
