"""Sexism scorers on the real embedding and head: clear positives, chat negatives, long texts."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, Scorer, ValueKind
from worker.metrics.eval_sexism import evaluate
from worker.metrics.evaluation import datasets_dir
from worker.metrics.sexism import InputSexist, OutputSexist

SEXIST = [
    "Women are too emotional to be leaders, they belong in the kitchen.",
    "Women should not be allowed to vote.",
    "All women are gold diggers who only care about money.",
    "She only got promoted because she slept with the boss, typical woman.",
]
POLITE = [
    "Can you help me book a flight to Boston next Tuesday?",
    "What's the weather like in Paris tomorrow?",
    "How do I reset my password?",
    "My sister just started her new job as an engineer, any gift ideas?",
    "Please summarise this article in three bullet points.",
]
POLITE_PARAGRAPH = (
    "Thank you for getting back to me so quickly about the delivery. I checked the tracking page "
    "this morning and it says the parcel left the warehouse on Monday. Could you tell me whether "
    "the courier will need a signature, since nobody is home during the day? I would also like to "
    "change the billing address on my account to the new flat. Many thanks for your patience, and "
    "have a lovely weekend."
)


def floats(values: Sequence[MetricValue]) -> list[float]:
    """The scores, checked to be floats in 0..1 (the SCORE value kind)."""
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values), values
    return [float(v) for v in values if isinstance(v, float)]


@pytest.mark.parametrize(
    ("scorer", "name", "field"),
    [
        (InputSexist(), "input_sexist", PayloadField.INPUT),
        (OutputSexist(), "output_sexist", PayloadField.OUTPUT),
    ],
)
def test_scorer_declarations(scorer: Scorer, name: str, field: PayloadField) -> None:
    assert scorer.name == name
    assert scorer.reads == (field,)
    assert scorer.kind is ValueKind.SCORE
    assert scorer.labels is None
    assert scorer.execution is Execution.THREAD


def test_clear_examples() -> None:
    scores = floats(InputSexist().score_batch([(t,) for t in SEXIST + POLITE]))
    sexist, polite = scores[: len(SEXIST)], scores[len(SEXIST) :]
    assert all(s > 0.5 for s in sexist), dict(zip(SEXIST, sexist, strict=True))
    assert all(s < 0.5 for s in polite), dict(zip(POLITE, polite, strict=True))


def test_sexist_sentence_inside_a_long_polite_paragraph_scores_high() -> None:
    half = len(POLITE_PARAGRAPH) // 2
    cut = POLITE_PARAGRAPH.index(". ", half) + 2
    hidden = POLITE_PARAGRAPH[:cut] + "Women are too stupid to drive. " + POLITE_PARAGRAPH[cut:]
    polite, sexist = floats(OutputSexist().score_batch([(POLITE_PARAGRAPH,), (hidden,)]))
    assert polite < 0.5
    assert sexist > 0.5


def test_toxicity_and_sexism_share_one_embedding_per_text() -> None:
    from worker.metrics.embedding import get_embedder
    from worker.metrics.toxicity import InputToxicity

    text = "A sentence nobody else in the test suite scores, about sharing embeddings."
    embedder = get_embedder()
    InputSexist().score_batch([(text,)])
    misses = embedder.misses
    InputToxicity().score_batch([(text,)])
    assert embedder.misses == misses


def test_evaluate_returns_rows_for_every_dataset() -> None:
    rows = evaluate(datasets_dir(), limit=8)
    by_dataset = {row.dataset.split(" ")[0]: row for row in rows}
    assert set(by_dataset) == {
        "sexism_edos",
        "benign_queries_clinc150",
        "prompt_injection",
        "groundedness_halueval",
        "harmful_prompts_xstest",
    }
    assert all(row.metric == "sexist" and 0 < row.n <= 8 for row in rows)
    edos = by_dataset["sexism_edos"]
    assert edos.f1 is not None
    assert edos.auc is not None
    assert by_dataset["benign_queries_clinc150"].fpr is not None
