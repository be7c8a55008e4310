"""Context adherence and completeness on real examples, through the engine too."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import roc_auc_score

from worker import Payload, Request
from worker.engine.evaluate import Evaluator
from worker.metrics.adherence import Completeness, ContextAdherence, adherence, completeness
from worker.metrics.builtin import default_registry
from worker.metrics.evaluation.adherence import roc_auc
from worker.runtime import Protect
from worker.stages.registry import StageRegistry

CONTEXT = (
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris. It is 330 metres "
    "tall and was designed by the engineering company of Gustave Eiffel. Each year about "
    "seven million people visit it."
)
QUESTION = "When was the Eiffel Tower completed and how tall is it?"


def test_grounded_answers_score_high_and_fabrications_low() -> None:
    grounded = "It was completed in 1889 and is 330 metres tall."
    fabricated_number = "It was completed in 1925 and is 512 metres tall."
    fabricated_name = "It was designed by Leonardo da Vinci for the Rome Olympics."
    assert adherence(CONTEXT, QUESTION, grounded) > 0.5
    assert adherence(CONTEXT, QUESTION, fabricated_number) < 0.5
    assert adherence(CONTEXT, QUESTION, fabricated_name) < 0.5
    assert adherence(CONTEXT, QUESTION, grounded) > adherence(CONTEXT, QUESTION, fabricated_name)


def test_completeness_rewards_covering_what_the_context_offers() -> None:
    full = "It was completed in 1889 for the World's Fair and is 330 metres tall."
    partial = "It is tall."
    assert completeness(CONTEXT, QUESTION, full) > completeness(CONTEXT, QUESTION, partial)
    assert completeness("Bananas are yellow.", "What is the capital of Peru?", "Lima") == 1.0


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"input": QUESTION, "context": CONTEXT, "output": "Completed in 1889."}, "high"),
        ({"input": f"Context: {CONTEXT}\nQuestion: {QUESTION}", "output": "Built in 1750."}, "low"),
        ({"input": f"{CONTEXT}\n\n{QUESTION}", "output": "It was completed in 1889."}, "high"),
    ],
)
async def test_engine_derives_context_and_question(payload: dict[str, str], expected: str) -> None:
    metrics = default_registry()
    protect = Protect(StageRegistry(metrics), Evaluator(metrics))
    rules = [
        {"rules": [{"metric": "context_adherence_luna", "operator": "lt", "target_value": 0.5}]}
    ]
    response = await protect.ainvoke(
        Request.model_validate(
            {"payload": payload, "stage_name": "rag", "project_name": "t", "rulesets": rules}
        )
    )
    value = response.metric_results["context_adherence_luna"].value
    assert isinstance(value, float)
    assert (value > 0.5) is (expected == "high")


def test_scorer_declarations() -> None:
    for scorer in (ContextAdherence(), Completeness()):
        assert scorer.kind.value == "score"
        assert [r.value for r in scorer.reads] == ["context", "question", "output"]
    assert Payload(input="only a question?").context_and_question() == (
        "only a question?",
        "only a question?",
    )


def test_auc_matches_scikit_learn() -> None:
    rng = random.Random(3)
    truth = [rng.random() < 0.4 for _ in range(500)]
    scores = [round(rng.random() + (0.3 if t else 0), 2) for t in truth]  # with ties
    assert roc_auc(truth, scores) == pytest.approx(roc_auc_score(truth, scores))
