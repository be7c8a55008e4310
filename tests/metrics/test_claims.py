"""The lexical analysis under the RAG metrics: figures, derivations, refusals, slot checks."""

from __future__ import annotations

from worker.metrics.claims import Context, claims, is_refusal, numbers, slots


def test_figures_are_compared_in_one_canonical_form() -> None:
    assert numbers("£1,050 or 1050 at 09:00, six weeks, 1.050,5 kr") == [
        "1050",
        "1050",
        "9:00",
        "1050.5",
        "6",
    ]


def test_one_step_of_arithmetic_derives_a_figure_and_a_guess_does_not() -> None:
    given = ["482", "4820", "38", "50"]
    assert Context.derivable("10.0", given)  # 482 / 4,820 as a percentage, rounded as shown
    assert Context.derivable("19", given)  # 50% of 38
    assert not Context.derivable("11.2", given)
    assert not Context.derivable("24", given)


def test_declining_from_the_context_is_recognised() -> None:
    assert is_refusal("The leaflet doesn't mention skiing at all.")
    assert is_refusal("This extract does not say whether grandparents are covered")
    assert not is_refusal("You must not take it with other paracetamol products.")


def test_a_figure_is_checked_where_its_words_point() -> None:
    ctx = Context(
        "Primary caregivers are entitled to 18 weeks of paid leave. Secondary caregivers are "
        "entitled to 6 weeks of paid leave."
    )
    right, borrowed = (
        next(s for s in slots(text) if s.kind == "number")
        for text in (
            "Secondary caregivers get 6 weeks of paid leave.",
            "Secondary caregivers get 18 weeks of paid leave.",
        )
    )
    assert ctx.check_slot(right) == "match"
    assert ctx.check_slot(borrowed) == "mismatch"


def test_answers_are_cut_into_claims_at_clause_boundaries() -> None:
    parts = claims("You get 6 weeks; it can be split in two blocks, but each lasts a week. Done.")
    assert parts == [
        "You get 6 weeks",
        "it can be split in two blocks",
        "but each lasts a week.",
        "Done.",
    ]
