"""Label probabilities to metric values, and the configuration checks made at registration."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from worker.errors import MetricConfigError, ScorerError
from worker.metrics.backends.outputs import build_mapping, probabilities
from worker.metrics.backends.spec import BackendSpec
from worker.metrics.base import Scorer
from worker.metrics.injection import PromptInjection
from worker.metrics.tone import InputTone
from worker.metrics.toxicity import InputToxicity

SPEC: TypeAdapter[BackendSpec] = TypeAdapter(BackendSpec)


def spec(**fields: Any) -> BackendSpec:
    return SPEC.validate_python({"type": "http", "url": "http://127.0.0.1:1/predict", **fields})


def test_softmax_rows_sum_to_one_and_keep_order() -> None:
    p = probabilities(np.array([[0.0, 2.0], [3.0, -1.0]]), multi_label=False)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert p[0, 1] == pytest.approx(1 / (1 + math.exp(-2)))
    assert p[1, 0] > p[1, 1]


def test_multi_label_and_single_output_models_use_sigmoids() -> None:
    p = probabilities(np.array([[0.0, 2.0, -800.0]]), multi_label=True)
    assert p[0].tolist() == pytest.approx([0.5, 1 / (1 + math.exp(-2)), 0.0])
    single = probabilities(np.array([[1.0], [-1.0]]), multi_label=False)
    assert single[:, 0].tolist() == pytest.approx([1 / (1 + math.exp(-1)), 1 / (1 + math.exp(1))])


def test_score_is_the_summed_probability_of_the_positive_labels() -> None:
    mapping = build_mapping(
        InputToxicity(), spec(positive_labels=["toxic", "obscene"]), None, field="b"
    )
    assert mapping.value({"toxic": 0.25, "obscene": 0.5, "neutral": 0.25}) == 0.75
    assert mapping.value({"toxic": 0.0, "neutral": 1.0}) == 0.0


def test_a_score_whose_positive_labels_never_come_back_fails_rather_than_passing() -> None:
    mapping = build_mapping(InputToxicity(), spec(positive_labels=["toxic"]), None, field="b")
    with pytest.raises(ScorerError, match="none of the positive labels"):
        mapping.value({"LABEL_0": 0.1, "LABEL_1": 0.9})


def test_a_local_binary_model_defaults_to_its_second_label() -> None:
    mapping = build_mapping(InputToxicity(), spec(), ["neutral", "toxic"], field="b")
    assert mapping.value({"neutral": 0.3, "toxic": 0.7}) == 0.7


def test_label_metric_takes_the_top_label_through_the_map() -> None:
    mapping = build_mapping(
        InputTone(), spec(label_map={"happy": "joy", "angry": "anger"}), None, field="b"
    )
    assert mapping.value({"happy": 0.6, "angry": 0.4}) == "joy"
    # The model's top label has no metric label: no value rather than a wrong one.
    assert mapping.value({"other": 0.9, "happy": 0.1}) is None


def test_label_metric_maps_same_named_labels_by_default_ignoring_case() -> None:
    mapping = build_mapping(InputTone(), spec(), ["JOY", "Anger", "meh"], field="b")
    assert mapping.value({"JOY": 0.2, "Anger": 0.7, "meh": 0.1}) == "anger"


def test_label_list_keeps_labels_over_threshold_in_vocabulary_order() -> None:
    mapping = build_mapping(
        PromptInjection(),
        spec(
            label_map={"ROLEPLAY": "impersonation", "IGNORE": "simple_instruction"}, threshold=0.4
        ),
        None,
        field="b",
    )
    assert mapping.value({"ROLEPLAY": 0.9, "IGNORE": 0.5, "SAFE": 0.95}) == [
        "simple_instruction",
        "impersonation",
    ]
    assert mapping.value({"ROLEPLAY": 0.1, "IGNORE": 0.39, "SAFE": 0.9}) == []


@pytest.mark.parametrize(
    ("scorer", "fields", "model_labels", "message"),
    [
        (
            InputToxicity(),
            {"label_map": {"a": "b"}},
            None,
            r"b\.label_map: input_toxicity is a score",
        ),
        (InputToxicity(), {}, None, r"b\.positive_labels: required for a model server"),
        (InputToxicity(), {}, ["a", "b", "c"], r"b\.positive_labels: required: the model has 3"),
        (InputToxicity(), {"positive_labels": ["tox"]}, ["ok", "toxic"], r"'tox' is not a label"),
        (
            InputTone(),
            {"positive_labels": ["joy"]},
            None,
            r"b\.positive_labels: input_tone is a label",
        ),
        (
            InputTone(),
            {"label_map": {"happy": "glee"}},
            None,
            r"b\.label_map\.happy: 'glee' is not",
        ),
        (
            InputTone(),
            {"label_map": {"happy": "joy"}},
            ["glad"],
            r"b\.label_map\.happy: 'happy' is not",
        ),
        (InputTone(), {}, ["positive", "negative"], r"b\.label_map: none of the model's labels"),
    ],
)
def test_mappings_that_cannot_work_are_refused_naming_the_field(
    scorer: Scorer, fields: dict[str, Any], model_labels: list[str] | None, message: str
) -> None:
    with pytest.raises(MetricConfigError, match=message):
        build_mapping(scorer, spec(**fields), model_labels, field="b")
