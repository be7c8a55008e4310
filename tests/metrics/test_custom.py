"""Custom keyword and regex metrics declared in configuration."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from worker.errors import MetricConfigError
from worker.metrics.base import Execution, PayloadField, ValueKind
from worker.metrics.custom import CustomMetricSpec, CustomScorer, build_custom_scorers


def scorer(**fields: Any) -> CustomScorer:
    return CustomScorer(CustomMetricSpec.model_validate(fields))


def keywords(labels: dict[str, list[str]], **options: Any) -> CustomScorer:
    return scorer(name="kw", type="keywords", labels=labels, **options)


def regex(labels: dict[str, list[str]], **options: Any) -> CustomScorer:
    return scorer(name="rx", type="regex", labels=labels, **options)


def test_scorer_declaration() -> None:
    s = scorer(
        name="competitors",
        type="keywords",
        reads="output",
        labels={"acme": ["acme corp"], "globex": ["globex"]},
    )
    assert s.name == "competitors"
    assert s.reads == (PayloadField.OUTPUT,)
    assert s.kind is ValueKind.LABELS
    assert s.labels == ("acme", "globex")
    assert s.execution is Execution.INLINE


def test_reads_input_by_default() -> None:
    assert keywords({"a": ["a"]}).reads == (PayloadField.INPUT,)


def test_keywords_report_labels_in_declaration_order() -> None:
    s = keywords({"zeta": ["zebra"], "alpha": ["apple", "avocado"], "none": ["kiwi"]})
    assert s.score_batch([("An avocado and a zebra",), ("nothing",)]) == [["zeta", "alpha"], []]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("my cat is asleep", True),
        ("Cat.", True),
        ("cat", True),
        ("(cat)", True),
        ("concatenate the lists", False),
        ("two cats", False),
        ("cat_name", False),
        ("cat2", False),
    ],
)
def test_whole_word(text: str, found: bool) -> None:
    assert keywords({"pet": ["cat"]}).match(text) == (["pet"] if found else [])


def test_whole_word_off_matches_inside_words() -> None:
    assert keywords({"pet": ["cat"]}, whole_word=False).match("concatenate") == ["pet"]


def test_whole_word_uses_unicode_letters() -> None:
    # RE2's own \b is ASCII-only: it would see a boundary between "é" and "s".
    s = keywords({"place": ["café", "école"]})
    assert s.match("un café noir") == ["place"]
    assert s.match("à l'école") == ["place"]
    assert s.match("deux cafés") == []
    assert s.match("préécole") == []


def test_keyword_edges_that_are_not_word_characters() -> None:
    s = keywords({"lang": ["c++", ".net"]})
    assert s.match("I write C++ every day") == ["lang"]
    assert s.match("we use .NET") == ["lang"]
    assert s.match("I write c+ + code") == []


def test_keywords_are_literal() -> None:
    s = keywords({"x": ["a.b", "(x)"]})
    assert s.match("a.b") == ["x"]
    assert s.match("axb") == []
    assert s.match("call (x) now") == ["x"]
    assert s.match("call x now") == []


def test_whitespace_inside_a_keyword_matches_any_whitespace() -> None:
    s = keywords({"acme": ["acme corp"]})
    assert s.match("ask Acme\n   Corp about it") == ["acme"]
    assert s.match("acmecorp") == []


def test_case_insensitive_by_default() -> None:
    assert keywords({"x": ["Secret Project"]}).match("the SECRET project") == ["x"]
    assert keywords({"x": ["straße"]}).match("STRAßE") == ["x"]


def test_case_sensitive() -> None:
    s = keywords({"x": ["Apple"]}, case_sensitive=True)
    assert s.match("I bought an Apple laptop") == ["x"]
    assert s.match("I ate an apple") == []


def test_regex_labels() -> None:
    s = regex(
        {
            "aws_key": [r"AKIA[0-9A-Z]{16}"],
            "private_key": [r"-----BEGIN [A-Z ]*PRIVATE KEY-----"],
            "ticket": [r"\bJIRA-\d+\b", r"\bINC\d{6}\b"],
        },
        case_sensitive=True,
    )
    assert s.match("key AKIAIOSFODNN7EXAMPLE leaked") == ["aws_key"]
    assert s.match("-----BEGIN RSA PRIVATE KEY-----\nMIIE") == ["private_key"]
    assert s.match("see INC123456 and JIRA-42") == ["ticket"]
    assert s.match("akiaiosfodnn7example") == []


def test_regex_case_insensitive_by_default() -> None:
    assert regex({"x": ["hello world"]}).match("HELLO WORLD") == ["x"]


def test_regex_patterns_may_reuse_group_names() -> None:
    s = regex({"x": [r"(?P<id>a\d)", r"(?P<id>b\d)"]})
    assert s.match("b7") == ["x"]


def test_catastrophic_backtracking_pattern_completes() -> None:
    # A backtracking engine explores exponentially many ways to fail here; RE2 is linear.
    s = regex({"evil": [r"(a+)+$"], "also_evil": [r"^(a|aa)+$"]})
    assert s.match("a" * 50_000 + "b") == []
    assert s.match("a" * 50_000) == ["evil", "also_evil"]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "invalid escape sequence"),
        (r"foo(?=bar)", "invalid perl operator"),
        (r"(?<!x)y", "invalid perl operator"),
        (r"[unclosed", "missing ]"),
        (r"a{1001}", "invalid repetition size"),
    ],
)
def test_patterns_re2_refuses_name_the_field(pattern: str, reason: str) -> None:
    spec = CustomMetricSpec(
        name="banned", type="regex", labels={"ok": ["fine"], "secret": ["fine", pattern]}
    )
    with pytest.raises(MetricConfigError) as info:
        build_custom_scorers([spec])
    message = str(info.value)
    assert message.startswith("metrics[banned].labels.secret[1]: ")
    assert reason in message
    assert repr(pattern) in message


def test_refused_pattern_logs_nothing_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MetricConfigError):
        regex({"x": [r"(a)\1"]})
    assert capfd.readouterr().err == ""


def test_build_custom_scorers() -> None:
    specs = [
        CustomMetricSpec(name="one", type="keywords", labels={"a": ["alpha"]}),
        CustomMetricSpec(name="two", type="regex", reads=PayloadField.OUTPUT, labels={"b": ["b+"]}),
    ]
    built = build_custom_scorers(specs)
    assert [s.name for s in built] == ["one", "two"]
    assert built[1].reads == (PayloadField.OUTPUT,)


def test_build_rejects_a_repeated_name() -> None:
    spec = CustomMetricSpec(name="dup", type="keywords", labels={"a": ["alpha"]})
    with pytest.raises(MetricConfigError, match=r"metrics\[dup\]"):
        build_custom_scorers([spec, spec])


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "Banned", "type": "keywords", "labels": {"a": ["x"]}},
        {"name": "2fast", "type": "keywords", "labels": {"a": ["x"]}},
        {"name": "has-dash", "type": "keywords", "labels": {"a": ["x"]}},
        {"name": "ok", "type": "semantic", "labels": {"a": ["x"]}},
        {"name": "ok", "type": "keywords", "reads": "context", "labels": {"a": ["x"]}},
        {"name": "ok", "type": "keywords", "labels": {}},
        {"name": "ok", "type": "keywords", "labels": {"a": []}},
        {"name": "ok", "type": "keywords", "labels": {"": ["x"]}},
        {"name": "ok", "type": "keywords", "labels": {"a": [""]}},
        {"name": "ok", "type": "keywords", "labels": {"a": ["  "]}},
        {"name": "ok", "type": "keywords", "labels": {"a": ["x"]}, "threshold": 0.5},
        {"name": "ok", "type": "regex", "labels": {"a": ["x"]}, "whole_word": True},
        {"name": "ok", "type": "keywords"},
    ],
)
def test_invalid_declarations(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CustomMetricSpec.model_validate(fields)


def test_each_text_s_own_cost_is_measured() -> None:
    # A real RE2 scan: its cost grows with the text, so a ~2 MB text costs far more than a word.
    s = regex({"secret": [r"no such thing \d+"]})
    items = [("lorem ipsum " * 200_000,), ("hi",), ("ok",)]
    started = time.perf_counter_ns()
    values, costs = s.score_batch_timed(items)
    wall = time.perf_counter_ns() - started
    assert list(values) == [[], [], []]
    assert costs is not None
    assert costs[0] > max(costs[1:])
    assert sum(costs) <= wall
