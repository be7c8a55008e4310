"""Toxicity scorers on the real embedding and head: clear positives, chat negatives, long texts."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from worker.contract.rules import MetricValue
from worker.metrics.base import Execution, PayloadField, Scorer, ValueKind
from worker.metrics.eval_toxicity import evaluate
from worker.metrics.evaluation import datasets_dir
from worker.metrics.toxicity import InputToxicity, OutputToxicity

TOXIC = [
    "You are a worthless piece of shit and everyone hates you.",
    "Shut up, you stupid fucking idiot.",
    "fuck you bitch",
    "Go back to your country, nobody wants your kind here.",
]
POLITE = [
    "Can you help me book a flight to Boston next Tuesday?",
    "What's the weather like in Paris tomorrow?",
    "How do I reset my password?",
    "Thanks, that answer was really helpful!",
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
        (InputToxicity(), "input_toxicity", PayloadField.INPUT),
        (OutputToxicity(), "output_toxicity", PayloadField.OUTPUT),
    ],
)
def test_scorer_declarations(scorer: Scorer, name: str, field: PayloadField) -> None:
    assert scorer.name == name
    assert scorer.reads == (field,)
    assert scorer.kind is ValueKind.SCORE
    assert scorer.labels is None
    assert scorer.execution is Execution.THREAD


def test_clear_examples() -> None:
    scores = floats(InputToxicity().score_batch([(t,) for t in TOXIC + POLITE]))
    toxic, polite = scores[: len(TOXIC)], scores[len(TOXIC) :]
    assert all(s > 0.5 for s in toxic), dict(zip(TOXIC, toxic, strict=True))
    assert all(s < 0.5 for s in polite), dict(zip(POLITE, polite, strict=True))


def test_toxic_sentence_inside_a_long_polite_paragraph_scores_high() -> None:
    half = len(POLITE_PARAGRAPH) // 2
    cut = POLITE_PARAGRAPH.index(". ", half) + 2
    hidden = POLITE_PARAGRAPH[:cut] + "You are a worthless idiot. " + POLITE_PARAGRAPH[cut:]
    polite, toxic = floats(OutputToxicity().score_batch([(POLITE_PARAGRAPH,), (hidden,)]))
    assert polite < 0.5
    assert toxic > 0.5


def test_blank_text_scores_zero_and_order_is_kept() -> None:
    scores = floats(InputToxicity().score_batch([("",), (TOXIC[0],), ("   ",), (POLITE[0],)]))
    assert scores[0] == scores[2] == 0.0
    assert scores[1] > 0.5 > scores[3]


async def test_async_entry_point_runs_in_a_thread() -> None:
    scores = floats(await OutputToxicity().ascore_batch([(TOXIC[1],), (POLITE[1],)]))
    assert scores[0] > 0.5 > scores[1]


def test_evaluate_returns_rows_for_every_dataset() -> None:
    rows = evaluate(datasets_dir(), limit=8)
    by_dataset = {row.dataset.split(" ")[0]: row for row in rows}
    assert set(by_dataset) == {
        "toxicity_davidson",
        "toxicity_toxigen_seeds",
        "toxicity_jigsaw_sample",
        "benign_queries_clinc150",
        "prompt_injection",
        "groundedness_halueval",
        "harmful_prompts_xstest",
    }
    assert all(row.metric == "toxicity" and 0 < row.n <= 8 for row in rows)
    labelled = by_dataset["toxicity_davidson"]
    assert labelled.f1 is not None
    assert labelled.precision is not None
    assert labelled.recall is not None
    assert "macro_f1" in labelled.extra
    assert by_dataset["benign_queries_clinc150"].fpr is not None
    assert by_dataset["harmful_prompts_xstest"].fpr is not None
