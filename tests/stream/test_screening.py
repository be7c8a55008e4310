"""The screening worker against a real broker (Tansu)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable

import pytest

from tests.brokers import Broker
from tests.conftest import ProtectFactory
from tests.scorers import CostlyScorer
from tests.stream.helpers import comparable, mixed_event, produce, read_topic, response_of
from tests.workers import EXAMPLES, RunningWorker
from worker.contract.request import Request
from worker.runtime import Protect
from worker.settings import Settings
from worker.stream.codec import (
    H_DLQ_DETAIL,
    H_DLQ_REASON,
    H_SOURCE_OFFSET,
    H_SOURCE_PARTITION,
    H_SOURCE_TOPIC,
    H_STAGE_NAME,
    H_STATUS,
    H_TRACE_ID,
)
from worker.stream.screening import ScreeningWorker
from worker.stream.topics import TopicSpec, ensure_topics

N_EVENTS = 5000


def running_topics(settings: Settings) -> list[TopicSpec]:
    return ScreeningWorker.topic_specs(settings)


async def test_every_event_gets_its_response_in_partition_order_equal_to_in_process(
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
) -> None:
    settings = settings_factory()
    prompts = settings.bindings[0]
    # Topics exist before anything is produced (a broker may auto-create them differently).
    await ensure_topics(tansu.bootstrap_servers, running_topics(settings))
    running = worker_factory(tansu, settings)
    events = [mixed_event(i) for i in range(N_EVENTS)]
    keys = [f"user-{i % 97}".encode() for i in range(N_EVENTS)]
    headers = [[("correlation-id", f"c{i}".encode())] for i in range(N_EVENTS)]
    await produce(
        tansu.bootstrap_servers,
        prompts.input,
        [json.dumps(e).encode() for e in events],
        keys,
        headers,
    )

    results = await read_topic(tansu.bootstrap_servers, prompts.results, N_EVENTS)
    await running.finish()

    seqs = [int(response_of(r)["metadata"]["seq"]) for r in results]
    assert sorted(seqs) == list(range(N_EVENTS)), "one Response per event, none twice"
    # Per input partition, results come out in input order, on the same partition number.
    by_partition: dict[int, list[int]] = defaultdict(list)
    for record, seq in zip(results, seqs, strict=True):
        header = dict(record.headers)
        source_partition = int(header[H_SOURCE_PARTITION])
        assert record.partition == source_partition
        by_partition[source_partition].append(int(header[H_SOURCE_OFFSET]))
        assert record.key == keys[seq]
        assert header["correlation-id"] == f"c{seq}".encode()
        assert header[H_STAGE_NAME] == b"input-guard"
        assert header[H_STATUS] == response_of(record)["status"].encode()
        assert header[H_TRACE_ID] == response_of(record)["trace_metadata"]["id"].encode()
    for offsets in by_partition.values():
        assert offsets == sorted(offsets)
    assert len(by_partition) > 1

    # The same requests evaluated in-process give the same Responses.
    reference = Protect.from_file(EXAMPLES, seed=0)
    requests = [
        Request.model_validate({**e, "stage_name": "input-guard", "project_name": "demo-chatbot"})
        for e in events
    ]
    expected = await reference.ainvoke_many(requests)
    statuses: Counter[str] = Counter()
    for record, seq in zip(results, seqs, strict=True):
        got = comparable(response_of(record))
        want = comparable(expected[seq].model_dump(mode="json"))
        if want["action_result"]["type"] == "OVERRIDE":  # a random choice among several
            got["text"] = got["action_result"]["value"] = want["text"]
            want["action_result"]["value"] = want["text"]
        assert got == want, seq
        statuses[got["status"]] += 1
    assert statuses["triggered"] > 0
    assert statuses["not_triggered"] > 0
    assert running.worker.stats.consumed == N_EVENTS


# (record value, expected dead-letter reason, a substring of the detail)
BAD_RECORDS: list[tuple[bytes, str, str]] = [
    (b"", "empty_value", "no value"),
    (b"\xff\xfe not utf-8", "not_utf8", "byte 0"),
    (b"{not json", "invalid_json", "line 1"),
    (b"[1, 2, 3]", "schema_violation", "JSON object"),
    (b'{"payload": {}}', "schema_violation", "input"),
    (b'{"payload": {"input": "hi"}, "timeout": "soon"}', "schema_violation", "timeout"),
    (b'{"payload": {"input": "hi"}, "rulesets": [{"rules": []}]}', "schema_violation", "rules"),
    (
        b'{"payload": {"input": "hi"}, "rulesets": [{"rules": [{"metric": "m", "operator": '
        b'"empty"}], "action": "OVERRIDE"}]}',
        "schema_violation",
        "rulesets[0].action",
    ),
    (b'{"payload": {"input": "hi"}, "unexpected": 1}', "schema_violation", "extra_forbidden"),
    (b'{"payload": {"input": "' + b"x" * 5000 + b'"}}', "record_too_large", "limit"),
]


async def test_bad_records_go_to_the_dead_letter_topic_and_good_ones_get_responses(
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
) -> None:
    settings = settings_factory(max_record_bytes=4096)
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, running_topics(settings))
    values: list[bytes] = []
    keys: list[bytes] = []
    expected_bad: dict[bytes, tuple[bytes, str, str]] = {}
    for round_ in range(3):  # good and bad records interleaved
        for i, (bad, reason, detail) in enumerate(BAD_RECORDS):
            values.append(json.dumps(mixed_event(round_ * 100 + i)).encode())
            keys.append(f"good-{round_}-{i}".encode())
            values.append(bad)
            keys.append(f"bad-{round_}-{i}".encode())
            expected_bad[keys[-1]] = (bad, reason, detail)
    running = worker_factory(tansu, settings)
    await produce(tansu.bootstrap_servers, prompts.input, values, keys)
    n_good = len(values) - len(expected_bad)
    results = await read_topic(tansu.bootstrap_servers, prompts.results, n_good)
    dead = await read_topic(tansu.bootstrap_servers, settings.deadletter_topic, len(expected_bad))
    assert not running.task.done()  # bad input never stops the worker
    await running.finish()

    assert sorted(r.key or b"" for r in results) == sorted(k for k in keys if k.startswith(b"good"))
    assert len(dead) == len(expected_bad)
    by_key = {record.key: record for record in dead}
    assert set(by_key) == set(expected_bad)
    for key, (original, reason, detail) in expected_bad.items():
        record = by_key[key]
        header = dict(record.headers)
        assert header[H_DLQ_REASON].decode() == reason, key
        assert detail in header[H_DLQ_DETAIL].decode(), (key, header[H_DLQ_DETAIL])
        assert header[H_SOURCE_TOPIC].decode() == prompts.input
        assert H_SOURCE_OFFSET in header
        assert (record.value or b"") == original  # the original bytes, unchanged
    assert running.worker.stats.dead_letters == len(expected_bad)


async def test_backpressure_pauses_fetching_and_loses_nothing(
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
) -> None:
    n = 1000
    # The smallest in-flight limit: a fetch of 100 leaves more than one record unacknowledged
    # when the loop checks (acks on loopback arrive while later records are still being sent,
    # so a limit of ~20 is rarely crossed), and the worker must pause until all are acked.
    settings = settings_factory(max_in_flight=1, max_batch=100)
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, running_topics(settings))
    await produce(
        tansu.bootstrap_servers,
        prompts.input,
        [json.dumps(mixed_event(i)).encode() for i in range(n)],
    )
    running = worker_factory(tansu, settings)
    results = await read_topic(tansu.bootstrap_servers, prompts.results, n)
    await running.finish()
    assert sorted(int(response_of(r)["metadata"]["seq"]) for r in results) == list(range(n))
    assert running.worker.stats.pauses > 0


async def test_each_response_times_its_own_event_and_its_own_fetch(
    tansu: Broker,
    settings_factory: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
    protect_factory: ProtectFactory,
) -> None:
    settings = settings_factory()
    prompts = settings.bindings[0]
    await ensure_topics(tansu.bootstrap_servers, running_topics(settings))
    stage = {
        "name": "input-guard",
        "type": "central",
        "prioritized_rulesets": [
            {"rules": [{"metric": "costly", "operator": "gte", "target_value": 0.0}]}
        ],
    }
    # CostlyScorer's work grows with the text (measured per item): the long event costs most.
    protect = protect_factory([CostlyScorer()], stages=[stage], project=settings.project)
    running = worker_factory(tansu, settings, protect)

    def event(i: int, text: str) -> bytes:
        return json.dumps({"payload": {"input": text}, "metadata": {"i": str(i)}}).encode()

    first = ["a long document. " * 120, "hi", "ok then", "thanks"]
    await produce(
        tansu.bootstrap_servers,
        prompts.input,
        [event(i, t) for i, t in enumerate(first)],
        keys=[b"k"] * len(first),
    )
    await read_topic(tansu.bootstrap_servers, prompts.results, len(first))
    # Produced only once the first Responses are out: necessarily another fetch.
    second = ["later", "much later"]
    await produce(
        tansu.bootstrap_servers,
        prompts.input,
        [event(len(first) + i, t) for i, t in enumerate(second)],
        keys=[b"k"] * len(second),
    )
    results = await read_topic(tansu.bootstrap_servers, prompts.results, len(first + second))
    await running.finish()

    by_index = {int(response_of(r)["metadata"]["i"]): response_of(r) for r in results}
    assert sorted(by_index) == list(range(len(first + second)))
    traces = [by_index[i]["trace_metadata"] for i in sorted(by_index)]
    for trace in traces:
        assert trace["received_at"] <= trace["response_at"]
        span = (trace["response_at"] - trace["received_at"]) / 1e9
        assert trace["execution_time"] == pytest.approx(span)
    early, late = traces[: len(first)], traces[len(first) :]
    assert min(t["received_at"] for t in late) > max(t["response_at"] for t in early)

    costs = [by_index[i]["metric_results"]["costly"]["execution_time"] for i in range(len(first))]
    assert costs[0] > max(costs[1:]), costs
    span_s = (max(t["response_at"] for t in early) - min(t["received_at"] for t in early)) / 1e9
    assert sum(costs) <= span_s
