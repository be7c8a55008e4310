"""The engine: every ExecutionStatus, priorities, actions, timeouts, failures, batching."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import cast

import pytest

from tests.conftest import ProtectFactory
from tests.factories import central, make_request, override, ruleset
from tests.scorers import CostlyScorer, FuncScorer, SlowScorer, keyword_labels, raising, score
from worker.contract import ActionType, ExecutionStatus, MetricStatus, StageType
from worker.contract.rules import MetricValue
from worker.engine.evaluate import Evaluator
from worker.metrics.base import Execution, PayloadField, ScorerInput, ValueKind
from worker.metrics.registry import MetricRegistry
from worker.runtime import Protect
from worker.settings import Settings

S = ExecutionStatus


async def test_not_triggered_returns_the_payload_text(protect_factory: ProtectFactory) -> None:
    protect = protect_factory([score(0.2)])
    response = await protect.ainvoke(
        make_request(
            "hello there", rulesets=[ruleset(("score_metric", "gt", 0.5), action=override("no"))]
        )
    )
    assert response.status is S.NOT_TRIGGERED
    assert response.text == "hello there"
    assert response.action_result.type is ActionType.PASSTHROUGH
    assert response.action_result.value == "hello there"
    assert response.ruleset_results[0].status is S.NOT_TRIGGERED
    assert response.metric_results["score_metric"].value == 0.2
    assert response.metric_results["score_metric"].status is MetricStatus.SUCCESS


async def test_triggered_override_replaces_the_text(protect_factory: ProtectFactory) -> None:
    protect = protect_factory([score(0.9)])
    response = await protect.ainvoke(
        make_request(
            "q",
            "secret answer",
            rulesets=[ruleset(("score_metric", "gt", 0.5), action=override("blocked"))],
        )
    )
    assert response.status is S.TRIGGERED
    assert response.text == "blocked"
    assert response.action_result.type is ActionType.OVERRIDE
    rule_result = response.ruleset_results[0].rule_results[0]
    assert (rule_result.status, rule_result.value) == (S.TRIGGERED, 0.9)


async def test_triggered_passthrough_returns_the_payload_text(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([score(0.9)])
    response = await protect.ainvoke(
        make_request("question", "the answer", rulesets=[ruleset(("score_metric", "gt", 0.5))])
    )
    assert response.status is S.TRIGGERED
    assert response.action_result.type is ActionType.PASSTHROUGH
    assert response.text == "the answer"  # output when set, else input


async def test_ruleset_triggers_only_when_all_rules_trigger(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([score(0.9), keyword_labels()])
    both = ruleset(
        ("score_metric", "gt", 0.5), ("words", "contains", "alpha"), action=override("x")
    )
    hit = await protect.ainvoke(make_request("alpha beta", rulesets=[both]))
    miss = await protect.ainvoke(make_request("gamma", rulesets=[both]))
    assert hit.status is S.TRIGGERED
    assert miss.status is S.NOT_TRIGGERED
    assert [r.status for r in miss.ruleset_results[0].rule_results] == [
        S.TRIGGERED,
        S.NOT_TRIGGERED,
    ]


async def test_first_listed_triggered_ruleset_gives_the_action(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([keyword_labels()])
    rulesets = [
        ruleset(("words", "contains", "nope"), action=override("first")),
        ruleset(("words", "contains", "alpha"), action=override("second")),
        ruleset(("words", "contains", "beta"), action=override("third")),
    ]
    response = await protect.ainvoke(make_request("alpha beta", rulesets=rulesets))
    assert response.status is S.TRIGGERED
    assert response.text == "second"
    assert [r.status for r in response.ruleset_results] == [
        S.NOT_TRIGGERED,
        S.TRIGGERED,
        S.TRIGGERED,
    ]
    reordered = await protect.ainvoke(make_request("alpha beta", rulesets=rulesets[::-1]))
    assert reordered.text == "third"


async def test_seeded_override_choice_is_reproducible_and_covers_choices(
    protect_factory: ProtectFactory,
) -> None:
    choices = [f"choice {i}" for i in range(5)]
    rulesets = [ruleset(("score_metric", "gte", 0), action=override(*choices))]

    async def run(seed: int) -> list[str]:
        protect = protect_factory([score(1.0)], seed=seed)
        return [
            (await protect.ainvoke(make_request("x", rulesets=rulesets))).text for _ in range(50)
        ]

    first, again, other = await run(7), await run(7), await run(8)
    assert first == again
    assert first != other
    assert set(first) == set(choices)  # every choice reachable (50 draws from 5)


async def test_paused_stage_evaluates_nothing(protect_factory: ProtectFactory) -> None:
    scorer = score(0.9)
    protect = protect_factory(
        [scorer],
        stages=[
            central(
                "guard", ruleset(("score_metric", "gt", 0.5), action=override("x")), paused=True
            )
        ],
    )
    response = await protect.ainvoke(make_request("hello", stage="guard"))
    assert response.status is S.PAUSED
    assert response.text == "hello"
    assert response.ruleset_results == []
    assert response.metric_results == {}
    assert scorer.batches == []


async def test_failed_when_a_scorer_raises(protect_factory: ProtectFactory) -> None:
    broken = FuncScorer("broken", ValueKind.SCORE, raising("model exploded"))
    protect = protect_factory([broken])
    response = await protect.ainvoke(
        make_request("x", rulesets=[ruleset(("broken", "gt", 0.5), action=override("no"))])
    )
    assert response.status is S.FAILED
    assert response.text == "x"
    computation = response.metric_results["broken"]
    assert computation.status is MetricStatus.FAILED
    assert computation.error_message == "RuntimeError: model exploded"
    assert response.ruleset_results[0].rule_results[0].status is S.FAILED


@pytest.mark.parametrize(
    ("kind", "garbage"),
    [
        (ValueKind.SCORE, "high"),
        (ValueKind.SCORE, float("nan")),
        (ValueKind.SCORE, True),
        (ValueKind.LABEL, ["en"]),
        (ValueKind.LABELS, "ssn"),
        (ValueKind.LABELS, [1, 2]),
    ],
)
async def test_failed_when_a_scorer_returns_garbage(
    protect_factory: ProtectFactory, kind: ValueKind, garbage: object
) -> None:
    # The scorer breaks its contract on purpose: cast() tells the type checker so.
    protect = protect_factory([FuncScorer("odd", kind, lambda *_: cast(MetricValue, garbage))])
    response = await protect.ainvoke(
        make_request("x", rulesets=[ruleset(("odd", "not_empty", None))])
    )
    assert response.status is S.FAILED
    assert response.metric_results["odd"].status is MetricStatus.FAILED
    assert "returned" in (response.metric_results["odd"].error_message or "")


async def test_triggered_ruleset_wins_over_a_failed_one(protect_factory: ProtectFactory) -> None:
    protect = protect_factory([FuncScorer("broken", ValueKind.SCORE, raising()), score(0.9)])
    response = await protect.ainvoke(
        make_request(
            "x",
            rulesets=[
                ruleset(("broken", "gt", 0.5), action=override("first")),
                ruleset(("score_metric", "gt", 0.5), action=override("second")),
            ],
        )
    )
    assert response.status is S.TRIGGERED
    assert response.text == "second"
    assert response.ruleset_results[0].status is S.FAILED


async def test_one_rule_not_triggered_decides_a_ruleset_despite_a_failed_rule(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([FuncScorer("broken", ValueKind.SCORE, raising()), score(0.1)])
    response = await protect.ainvoke(
        make_request("x", rulesets=[ruleset(("broken", "gt", 0.5), ("score_metric", "gt", 0.5))])
    )
    assert response.ruleset_results[0].status is S.NOT_TRIGGERED
    assert response.status is S.NOT_TRIGGERED


async def test_error_for_an_unknown_stage(protect_factory: ProtectFactory) -> None:
    protect = protect_factory([score(0.9)])
    response = await protect.ainvoke(make_request("hi", stage="nowhere"))
    assert response.status is S.ERROR
    assert response.error is not None
    assert "nowhere" in response.error
    assert response.text == "hi"


async def test_error_for_an_unknown_version(protect_factory: ProtectFactory) -> None:
    protect = protect_factory(
        [score(0.9)],
        stages=[central("guard", ruleset(("score_metric", "gt", 0.5)))],
    )
    response = await protect.ainvoke(make_request("hi", stage="guard", stage_version=3))
    assert response.status is S.ERROR
    assert response.error is not None
    assert "no version 3" in response.error


async def test_error_for_a_local_stage_without_rulesets(protect_factory: ProtectFactory) -> None:
    protect = protect_factory([score(0.9)], stages=[{"name": "local", "type": "local"}])
    response = await protect.ainvoke(make_request("hi", stage="local"))
    assert response.status is S.ERROR
    assert response.error is not None
    assert "prioritized_rulesets" in response.error
    assert response.stage_metadata.stage_type is StageType.LOCAL


async def test_error_for_an_unknown_metric_in_request_rulesets(
    protect_factory: ProtectFactory,
) -> None:
    scorer = score(0.9)
    protect = protect_factory([scorer])
    response = await protect.ainvoke(
        make_request(
            "hi", rulesets=[ruleset(("score_metric", "gt", 0.5)), ruleset(("toxicty", "gt", 0.5))]
        )
    )
    assert response.status is S.ERROR
    assert response.error is not None
    assert "'toxicty'" in response.error
    assert "score_metric" in response.error
    assert scorer.batches == []  # nothing scored for a request that cannot run


async def test_error_for_rulesets_sent_to_a_central_stage(protect_factory: ProtectFactory) -> None:
    protect = protect_factory(
        [score(0.9)],
        stages=[central("guard", ruleset(("score_metric", "gt", 0.5)))],
    )
    response = await protect.ainvoke(
        make_request("hi", stage="guard", rulesets=[ruleset(("score_metric", "lt", 0.5))])
    )
    assert response.status is S.ERROR
    assert response.error is not None
    assert "central" in response.error


async def test_skipped_when_the_stage_has_no_rulesets(protect_factory: ProtectFactory) -> None:
    protect = protect_factory([score(0.9)], stages=[central("empty")])
    from_stage = await protect.ainvoke(make_request("hi", stage="empty"))
    assert from_stage.status is S.SKIPPED
    assert from_stage.text == "hi"
    # An empty list from the request is "none given" (as Galileo's SDKs send it): for a stage
    # that does not exist, that is an unknown stage, not a new local stage with nothing to run.
    from_request = await protect.ainvoke(make_request("hi", rulesets=[]))
    assert from_request.status is S.ERROR
    assert "not found" in (from_request.error or "")


async def test_timeout_returns_in_time_and_unfinished_metrics_do_not_trigger(
    protect_factory: ProtectFactory,
) -> None:
    slow = SlowScorer("slow", delay=5.0, value=1.0)
    protect = protect_factory([slow, score(0.9)])
    request = make_request(
        "x",
        timeout=0.2,
        rulesets=[
            ruleset(("slow", "gt", 0.5), action=override("slow fired")),
        ],
    )
    started = time.perf_counter()
    response = await protect.ainvoke(request)
    elapsed = time.perf_counter() - started
    assert response.status is S.TIMEOUT
    assert response.text == "x"
    assert response.metric_results["slow"].status is MetricStatus.TIMEOUT
    assert response.ruleset_results[0].status is S.TIMEOUT
    # Not a speed benchmark: the guarantee under test is that a 5 s metric cannot hold a 0.2 s
    # request, so the bound sits far from both numbers.
    assert elapsed < 2.5


async def test_finished_metrics_still_trigger_when_another_times_out(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([SlowScorer("slow", delay=5.0), score(0.9)])
    response = await protect.ainvoke(
        make_request(
            "x",
            timeout=0.2,
            rulesets=[
                ruleset(("slow", "gt", 0.5), action=override("slow fired")),
                ruleset(("score_metric", "gt", 0.5), action=override("fast fired")),
            ],
        )
    )
    assert response.status is S.TRIGGERED
    assert response.text == "fast fired"
    assert [r.status for r in response.ruleset_results] == [S.TIMEOUT, S.TRIGGERED]


async def test_async_metrics_run_concurrently(protect_factory: ProtectFactory) -> None:
    active = peak = 0

    class Probe(SlowScorer):
        async def ascore_batch(
            self, items: Sequence[ScorerInput], executor: Executor | None = None
        ) -> Sequence[MetricValue]:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            try:
                return await super().ascore_batch(items, executor)
            finally:
                active -= 1

    protect = protect_factory([Probe(f"slow{i}", delay=0.1) for i in range(4)])
    response = await protect.ainvoke(
        make_request(
            "x",
            rulesets=[
                ruleset(*[(f"slow{i}", "gt", 0.5) for i in range(4)], action=override("all"))
            ],
        )
    )
    assert response.status is S.TRIGGERED
    assert peak == 4  # all four metrics were in flight at once


async def test_thread_scorers_run_off_the_event_loop(protect_factory: ProtectFactory) -> None:
    loop_ran = threading.Event()

    def needs_the_loop(_: str) -> float:
        # Only the event loop sets the event; were this scorer run on the loop's thread, the
        # loop could not run and the wait would give up.
        return 0.9 if loop_ran.wait(timeout=5) else 0.1

    async def set_from_loop() -> None:
        await asyncio.sleep(0.05)
        loop_ran.set()

    protect = protect_factory(
        [FuncScorer("cpu", ValueKind.SCORE, needs_the_loop, execution=Execution.THREAD)]
    )
    setter = asyncio.create_task(set_from_loop())
    response = await protect.ainvoke(make_request("x", rulesets=[ruleset(("cpu", "gt", 0.5))]))
    await setter
    assert response.status is S.TRIGGERED


@pytest.mark.parametrize("cpu_threads", [1, 3])
async def test_thread_scorers_run_in_the_configured_cpu_pool(
    protect_factory: ProtectFactory, cpu_threads: int
) -> None:
    lock = threading.Lock()
    active = peak = 0
    threads: set[str] = set()

    def busy(_: str) -> float:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            threads.add(threading.current_thread().name)
        time.sleep(0.1)
        with lock:
            active -= 1
        return 0.0

    names = [f"cpu{i}" for i in range(4)]
    protect = protect_factory(
        [FuncScorer(n, ValueKind.SCORE, busy, execution=Execution.THREAD) for n in names],
        cpu_threads=cpu_threads,
    )
    response = await protect.ainvoke(
        make_request("x", rulesets=[ruleset(*((n, "gt", 0.5) for n in names))])
    )
    assert response.status is S.NOT_TRIGGERED
    # Four metrics could run at once; the pool admits exactly as many as it has threads.
    assert peak == cpu_threads
    assert all(name.startswith("protect-cpu") for name in threads)


def test_the_cpu_pool_defaults_to_one_thread_per_core_and_follows_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Evaluator(MetricRegistry()).cpu_threads == (os.cpu_count() or 1)
    monkeypatch.setenv("PROTECT_CPU_THREADS", "3")
    assert Settings().cpu_threads == 3
    assert Protect.from_file(cpu_threads=Settings().cpu_threads).evaluator.cpu_threads == 3


async def test_each_metric_is_computed_once_per_request(protect_factory: ProtectFactory) -> None:
    words = keyword_labels()
    protect = protect_factory([words])
    await protect.ainvoke(
        make_request(
            "alpha beta",
            rulesets=[
                ruleset(("words", "contains", "alpha"), ("words", "contains", "beta")),
                ruleset(("words", "not_empty", None)),
            ],
        )
    )
    assert words.batches == [1]


async def test_batches_score_each_metric_once_across_requests(
    protect_factory: ProtectFactory,
) -> None:
    words = keyword_labels()
    protect = protect_factory([words, score(0.1)])
    rulesets = [ruleset(("words", "contains", "alpha"), action=override("x"))]
    requests = [
        make_request(f"alpha {i}" if i % 2 else f"beta {i}", rulesets=rulesets) for i in range(10)
    ]
    responses = await protect.ainvoke_many(requests)
    assert words.batches == [10]
    assert Counter(r.status for r in responses) == {S.TRIGGERED: 5, S.NOT_TRIGGERED: 5}
    assert [r.text for r in responses][:2] == ["beta 0", "x"]


async def test_a_raising_batch_is_rescored_item_by_item(protect_factory: ProtectFactory) -> None:
    def picky(text: str) -> float:
        if "poison" in text:
            raise ValueError("cannot score this one")
        return 0.9

    protect = protect_factory([FuncScorer("picky", ValueKind.SCORE, picky)])
    rulesets = [ruleset(("picky", "gt", 0.5))]
    responses = await protect.ainvoke_many(
        [make_request(t, rulesets=rulesets) for t in ["ok", "poison pill", "fine"]]
    )
    assert [r.status for r in responses] == [S.TRIGGERED, S.FAILED, S.TRIGGERED]


async def test_missing_payload_field_means_no_value(protect_factory: ProtectFactory) -> None:
    reads_output = keyword_labels("out_words", PayloadField.OUTPUT)
    protect = protect_factory([reads_output])
    response = await protect.ainvoke(
        make_request(
            "only input", rulesets=[ruleset(("out_words", "empty", None), action=override("x"))]
        )
    )
    computation = response.metric_results["out_words"]
    assert computation.status is MetricStatus.ERROR
    assert computation.value is None
    assert computation.error_message == "payload has no 'output' text"
    assert response.status is S.NOT_TRIGGERED  # no value: even `empty` does not trigger
    assert reads_output.batches == []


async def test_galileo_alias_and_canonical_name_share_one_computation(
    protect_factory: ProtectFactory,
) -> None:
    pii = FuncScorer(
        "output_pii",
        ValueKind.LABELS,
        lambda text: ["ssn"] if "ssn" in text else [],
        reads=(PayloadField.OUTPUT,),
    )
    protect = protect_factory([pii])
    response = await protect.ainvoke(
        make_request(
            "q",
            "my ssn",
            rulesets=[
                ruleset(("pii", "contains", "ssn"), action=override("legacy")),
                ruleset(("output_pii", "contains", "ssn"), action=override("canonical")),
            ],
        )
    )
    assert pii.batches == [1]
    assert set(response.metric_results) == {"pii", "output_pii"}
    assert response.text == "legacy"


async def test_trace_stage_metadata_and_echoed_fields(protect_factory: ProtectFactory) -> None:
    protect = protect_factory(
        [score(0.9)],
        stages=[central("guard", ruleset(("score_metric", "gt", 0.5)), description="d")],
    )
    before = time.time_ns()
    response = await protect.ainvoke(
        make_request("hi", stage="guard", metadata={"user": "u1"}, headers={"x-trace": "t"})
    )
    after = time.time_ns()
    trace = response.trace_metadata
    assert before <= trace.received_at <= trace.response_at <= after
    assert trace.execution_time == pytest.approx((trace.response_at - trace.received_at) / 1e9)
    assert response.metadata == {"user": "u1"}
    assert response.headers == {"x-trace": "t"}
    stage = protect.stages.get(stage_name="guard", project_name="tests")
    assert response.stage_metadata.stage_id == stage.id
    assert response.stage_metadata.project_id == stage.project_id
    assert (response.stage_metadata.stage_name, response.stage_metadata.stage_version) == (
        "guard",
        1,
    )
    assert response.stage_metadata.stage_type is StageType.CENTRAL
    assert response.api_version == "1.0.0"


async def test_responses_serialise_with_lower_case_statuses(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([score(0.9)])
    response = await protect.ainvoke(
        make_request("x", rulesets=[ruleset(("score_metric", "gt", 0.5), action=override("o"))])
    )
    document = response.model_dump(mode="json")
    assert document["status"] == "triggered"
    assert document["ruleset_results"][0]["rule_results"][0]["status"] == "triggered"
    assert document["metric_results"]["score_metric"]["status"] == "success"
    assert document["action_result"]["type"] == "OVERRIDE"
    # A serialised Response reads back (e.g. by a results-topic consumer) to the same record.
    type(response).model_validate_json(response.model_dump_json())


# -- per-event timings --------------------------------------------------------------------------

LONG_TEXT = "a long document. " * 120  # ~2,000 characters
SHORT_TEXTS = ["hi", "ok then", "thanks"]


@pytest.mark.parametrize("execution", [Execution.INLINE, Execution.THREAD])
async def test_each_event_reports_its_own_metric_cost_not_the_batch_s(
    protect_factory: ProtectFactory, execution: Execution
) -> None:
    # CostlyScorer does real work proportional to the text (hashing it repeated), measured per
    # item: the long text's event must show the larger cost, the short ones their own.
    protect = protect_factory([CostlyScorer(execution=execution)])
    rules = [ruleset(("costly", "gte", 0.0))]
    requests = [make_request(text, rulesets=rules) for text in [LONG_TEXT, *SHORT_TEXTS]]
    started = time.perf_counter()
    responses = await protect.ainvoke_many(requests)
    wall = time.perf_counter() - started

    times = [r.metric_results["costly"].execution_time for r in responses]
    assert all(t is not None and t > 0 for t in times)
    long, *shorts = cast(list[float], times)
    assert long > max(shorts), times
    assert sum(cast(list[float], times)) <= wall, (times, wall)
    for response, metric_time in zip(responses, times, strict=True):
        assert response.metric_results["costly"].status is MetricStatus.SUCCESS
        # The rule reports its metric's time, not the batch's.
        assert response.ruleset_results[0].rule_results[0].execution_time == metric_time


async def test_a_whole_batch_scorer_s_time_is_apportioned_by_each_item_s_characters(
    protect_factory: ProtectFactory,
) -> None:
    # FuncScorer scores the batch in one call and measures nothing per item, like an embedding
    # pass: the engine splits the batch's wall time by each item's share of the characters.
    scorer = FuncScorer("batched", ValueKind.SCORE, lambda *_: 0.5, execution=Execution.THREAD)
    protect = protect_factory([scorer])
    rules = [ruleset(("batched", "gt", 0.9))]
    texts = ["x" * 1000, "y" * 100, "z" * 100]
    started = time.perf_counter()
    responses = await protect.ainvoke_many([make_request(t, rulesets=rules) for t in texts])
    wall = time.perf_counter() - started

    assert scorer.batches == [3], "one call for the batch"
    times = cast(list[float], [r.metric_results["batched"].execution_time for r in responses])
    assert times[0] == pytest.approx(10 * times[1])
    assert times[1] == pytest.approx(times[2])
    assert sum(times) <= wall


async def test_trace_metadata_runs_from_the_event_s_own_receive_time(
    protect_factory: ProtectFactory,
) -> None:
    protect = protect_factory([score(0.9)])
    rules = [ruleset(("score_metric", "gt", 0.5))]
    # As if fetched an hour ago and queued behind earlier batches: that wait is the event's.
    received_at = time.time_ns() - 3600 * 1_000_000_000
    (queued,) = await protect.ainvoke_many(
        [make_request("a", rulesets=rules)], received_at=received_at
    )
    (fresh,) = await protect.ainvoke_many([make_request("b", rulesets=rules)])
    trace = queued.trace_metadata
    assert trace.received_at == received_at
    assert trace.response_at > received_at
    assert trace.execution_time == pytest.approx((trace.response_at - received_at) / 1e9)
    assert trace.execution_time > fresh.trace_metadata.execution_time
    assert fresh.trace_metadata.received_at >= trace.response_at
