"""Context adherence and completeness on real examples, through the engine too."""

from __future__ import annotations

import json
import random

import pytest
from sklearn.metrics import roc_auc_score

from worker import Payload, Request
from worker.engine.evaluate import Evaluator
from worker.metrics.adherence import (
    COMPLETENESS_CARD,
    MODEL_CARD,
    Completeness,
    ContextAdherence,
    adherence,
    completeness,
)
from worker.metrics.builtin import default_registry
from worker.metrics.calibration import Platt
from worker.metrics.evaluation.adherence import evaluate_realistic, roc_auc
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
    # A calibrated probability now, not the old heuristic's exact 1.0: nothing in the context
    # bears on the question, so nothing was left out and the `gte 0.5` decision says complete.
    assert completeness("Bananas are yellow.", "What is the capital of Peru?", "Lima") > 0.5


LEAVE = (
    "Northwind Logistics - Employee Handbook, Section 7.3: Parental Leave (effective 1 January "
    "2024)\n\nPrimary caregivers are entitled to 18 weeks of paid parental leave at 100% of base "
    "salary. Secondary caregivers are entitled to 6 weeks of paid leave at 100% of base salary. "
    "Leave must be completed within 12 months of the birth or placement.\n\nSecondary caregiver "
    "leave may be taken in up to two blocks; each block must be at least one week long."
)
LEAVE_QUESTION = "I'm the secondary caregiver. How much paid leave do I get and can I split it?"


def test_a_figure_borrowed_from_another_sentence_lowers_adherence() -> None:
    right = (
        "As a secondary caregiver you get 6 weeks of paid leave at full base salary, and you can "
        "split it into at most two blocks of at least one week each."
    )
    borrowed = right.replace("6 weeks", "18 weeks")
    invented = right.replace("6 weeks", "9 weeks")
    assert adherence(LEAVE, LEAVE_QUESTION, right) > adherence(LEAVE, LEAVE_QUESTION, borrowed)
    assert adherence(LEAVE, LEAVE_QUESTION, right) > adherence(LEAVE, LEAVE_QUESTION, invented)


def test_an_added_detail_the_context_lacks_lowers_adherence() -> None:
    right = "You get 6 weeks of paid leave, which you can take in up to two blocks."
    padded = (
        "You get 6 weeks of paid leave, which you can take in up to two blocks, and HR "
        "reimburses nursery fees through the Kinderly voucher scheme."
    )
    assert adherence(LEAVE, LEAVE_QUESTION, padded) < adherence(LEAVE, LEAVE_QUESTION, right)


def test_saying_the_context_does_not_cover_it_is_grounded() -> None:
    question = "Does the policy cover adoption leave for grandparents?"
    declines = (
        "The section doesn't mention grandparents at all; it only covers primary and secondary "
        "caregivers, so I can't confirm that from this extract."
    )
    invents = (
        "Yes, grandparents who adopt get 4 weeks of paid leave at 80% of salary, taken in one "
        "block within 6 months."
    )
    assert adherence(LEAVE, question, declines) >= 0.5
    assert adherence(LEAVE, question, invents) < adherence(LEAVE, question, declines)


def test_arithmetic_shown_on_context_figures_is_grounded() -> None:
    fares = (
        "Compensation for delays: 30 to 59 minutes late, 50% of the single fare; 60 minutes or "
        "more, 100% of the single fare. Claims must be made within 28 days of travel."
    )
    question = "my train was 45 min late and my single was £38, what do I get?"
    derived = "A 45-minute delay pays 50% of the single fare, so on a £38 single that's £19."
    wrong = "A 45-minute delay pays 50% of the single fare, so on a £38 single you get £24."
    assert adherence(fares, question, derived) > adherence(fares, question, wrong)


RENT = (
    "TO RENT - 1-bedroom flat, 7 Ferris Court, Leith\n\nModern first-floor flat (48 m2) with "
    "open-plan living room and kitchen. Gas central heating; EPC C. Unfurnished.\n\nRent: £1,050 "
    "per month. Council tax band C. Deposit: £1,200, held in an approved tenancy deposit scheme. "
    "Available from 15 October. Minimum term 6 months.\n\nNo smokers. Pets considered by "
    "arrangement."
)


def test_answering_half_of_a_two_part_question_lowers_completeness() -> None:
    question = "How much is the rent and the deposit?"
    both = "The rent is £1,050 per month and the deposit is £1,200, held in an approved scheme."
    half = "The rent is £1,050 per month. It is available from 15 October, minimum term 6 months."
    assert completeness(RENT, question, both) > completeness(RENT, question, half)
    assert completeness(RENT, question, both) >= 0.5


CHECKLIST = (
    "Short-stay visa: application checklist\n\nSubmit the following documents in person.\n"
    "1. Completed and signed application form VF-2.\n"
    "2. Passport valid for at least 3 months beyond departure, with two blank pages.\n"
    "3. One recent colour photograph, 35 x 45 mm, white background.\n"
    "4. Travel medical insurance covering at least €30,000 for the whole stay.\n\n"
    "Fee: €80 for adults. Processing time: 15 calendar days."
)


def test_a_dropped_list_item_lowers_completeness() -> None:
    question = "Which documents do I need for the visa?"
    full = (
        "You need the signed VF-2 application form, a passport valid 3 months beyond departure "
        "with two blank pages, one 35 x 45 mm colour photo, and travel medical insurance of at "
        "least €30,000."
    )
    partial = (
        "You need the signed VF-2 application form, a passport valid 3 months beyond departure "
        "with two blank pages, and one 35 x 45 mm colour photo."
    )
    assert completeness(CHECKLIST, question, full) > completeness(CHECKLIST, question, partial)


def test_the_stored_heads_are_calibrated_increasing_maps() -> None:
    # The Platt map folded into each head must keep the raw ranking (a > 0): the card says so.
    adherence_card = json.loads(MODEL_CARD.read_text("utf-8"))
    completeness_card = json.loads(COMPLETENESS_CARD.read_text("utf-8"))
    for card in (adherence_card, completeness_card):
        Platt.from_dict(card["hyperparameters"]["platt"])  # raises on a decreasing map
    assert len(adherence_card["weights"]) == len(adherence_card["features"])
    trees = completeness_card["trees"]
    assert len({len(trees[k]) for k in ("feature", "threshold", "left", "right", "value")}) == 1
    # Every split reads a feature the head declares.
    used = {f for tree in trees["feature"] for f in tree if f >= 0}
    assert used <= set(range(len(completeness_card["features"])))


def test_scores_are_probabilities_that_rank_like_the_raw_evidence() -> None:
    # More unsupported figures can only lower adherence (the head's weight on them is negative).
    question = "How much paid leave do I get?"
    one_wrong = "You get 9 weeks of paid leave."
    two_wrong = "You get 9 weeks of paid leave at 70% of base salary, within 15 months."
    scores = [adherence(LEAVE, question, a) for a in (one_wrong, two_wrong)]
    assert all(0.0 < s < 1.0 for s in scores)
    assert scores[1] <= scores[0]


def test_the_realistic_rows_print_the_lexical_baselines() -> None:
    rows = evaluate_realistic(half="validation", limit=12)
    metrics = [row.metric for row in rows]
    assert metrics == [
        "context_adherence",
        "baseline:support_overlap",
        "completeness",
        "baseline:context_word_share",
    ]
    assert all(row.n == 12 and row.auc is not None for row in rows)


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
