"""The notifier against Tansu and real HTTP receivers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from tests.brokers import Broker
from tests.notify.conftest import NetworkGuard
from tests.notify.receivers import Receiver, Script
from tests.stream.helpers import RawKey, produce, produce_batch, read_topic
from tests.stream.test_groups import worker_env
from tests.workers import RunningWorker
from worker.contract.notification import MAX_ATTEMPTS_KEPT, Delivery
from worker.contract.request import Request
from worker.contract.webhook_url import AS_RECORDED
from worker.engine.evaluate import Evaluator
from worker.errors import BrokerError
from worker.metrics.builtin import default_registry
from worker.notify.client import WebhookClient
from worker.notify.fanout import deliveries_for
from worker.notify.notifier import Notifier
from worker.notify.signing import generate_secret, verify
from worker.runtime import Protect
from worker.settings import Settings
from worker.stages.registry import StageRegistry
from worker.stream.codec import Source
from worker.stream.screening import RESPONSE_SIZE_FACTOR, ScreeningWorker
from worker.stream.topics import ensure_topics

PROTECT = str(Path(sys.executable).with_name("protect"))
SECRET_ENV = "PROTECT_TEST_WEBHOOK_SECRET"
FAST_RETRIES = [0.2, 0.2, 0.2, 0.2, 0.2]


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = generate_secret()
    monkeypatch.setenv(SECRET_ENV, value)
    return value


@pytest.fixture
def notify_settings(
    settings_factory: Callable[..., Settings], secret: str
) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "notify_allow_networks": ["127.0.0.1/32"],  # the receivers are on loopback
            "webhook_default_secret": f"env:{SECRET_ENV}",
            "notify_retry_schedule_s": FAST_RETRIES,
            "notify_attempt_timeout_s": 2.0,
            "notify_group_id": f"notifier-{os.urandom(4).hex()}",
            "notifications_topic": f"notifications-{os.urandom(4).hex()}",
            "notify_retry_topic": f"retry-{os.urandom(4).hex()}",
            "notify_dead_topic": f"dead-{os.urandom(4).hex()}",
        }
        values.update(overrides)
        return settings_factory(**values)

    return make


@asynccontextmanager
async def running_notifier(
    broker: Broker, settings: Settings, client: WebhookClient | None = None
) -> AsyncIterator[Notifier]:
    notifier = Notifier(settings, broker.bootstrap_servers, client or WebhookClient(settings))
    stop = asyncio.Event()
    task = asyncio.create_task(notifier.run(stop))
    try:
        yield notifier
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def subscribed_rulesets(url: str, statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """A PII ruleset (override) whose action notifies `url`."""
    subscription: dict[str, Any] = {"url": url}
    if statuses is not None:
        subscription["statuses"] = list(statuses)
    return [
        {
            "rules": [{"metric": "input_pii", "operator": "contains", "target_value": "ssn"}],
            "action": {"type": "OVERRIDE", "choices": ["blocked"], "subscriptions": [subscription]},
        }
    ]


async def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def deliveries(urls: Sequence[str], n_each: int = 1) -> list[Delivery]:
    """Real Deliveries: triggered Responses of the in-process engine, subscribed to `urls`."""
    metrics = default_registry()
    protect = Protect(StageRegistry(metrics), Evaluator(metrics, seed=0))
    source_topic = f"events-{os.urandom(4).hex()}"
    out: list[Delivery] = []
    for i, url in enumerate(urls):
        for k in range(n_each):
            response = await protect.ainvoke(
                Request.model_validate(
                    {
                        "payload": {"input": "my ssn is 123-45-6789"},
                        "project_name": "t",
                        "stage_name": f"local-{i}",
                        "rulesets": subscribed_rulesets(url),
                        "metadata": {"n": str(k)},
                    }
                )
            )
            # As if each event were the record at offset k of its own partition.
            out += deliveries_for(response, Source(source_topic, i, k, []))
    return out


async def records_in(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of `topic`: it is written without transactions or compaction, so its end
    offsets count its records."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await consumer.topics()  # metadata, for the partitions
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        total = sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()
    return await read_topic(bootstrap, topic, total) if total else []


async def publish(broker: Broker, settings: Settings, items: Sequence[Delivery]) -> None:
    await produce(
        broker.bootstrap_servers,
        settings.notifications_topic,
        [d.model_dump_json().encode() for d in items],
        [d.id.encode() for d in items],
    )


# -- end to end: worker -> notifications topic -> notifier -> receiver --------------------------


async def test_worker_and_notifier_deliver_signed_responses_by_status(
    tansu: Broker,
    notify_settings: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
    secret: str,
) -> None:
    settings = notify_settings()
    prompts = settings.bindings[0]
    with Receiver() as receiver:
        default_url = receiver.url("/triggered")
        chosen_url = receiver.url("/errors-and-clean")
        rulesets = [
            *subscribed_rulesets(default_url),
            {
                "rules": [{"metric": "input_pii", "operator": "contains", "target_value": "ssn"}],
                "action": {
                    "type": "PASSTHROUGH",
                    "subscriptions": [{"url": chosen_url, "statuses": ["error", "not_triggered"]}],
                },
            },
        ]
        events = [
            {
                "payload": {"input": "my ssn is 123-45-6789"},
                "stage_name": "hooks",
                "rulesets": rulesets,
                "metadata": {"case": "pii"},
            },
            {
                "payload": {"input": "what's the weather like?"},
                "stage_name": "hooks",
                "rulesets": rulesets,
                "metadata": {"case": "clean"},
            },
            # An unknown metric: `error`, reported on every ruleset the request brought.
            {
                "payload": {"input": "hello"},
                "stage_name": "hooks",
                "metadata": {"case": "error"},
                "rulesets": [
                    {
                        **rulesets[1],
                        "rules": [
                            {"metric": "no_such_metric", "operator": "gt", "target_value": 1}
                        ],
                    }
                ],
            },
        ]
        await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
        worker_factory(tansu, settings)
        async with running_notifier(tansu, settings) as notifier:
            await produce(
                tansu.bootstrap_servers, prompts.input, [json.dumps(e).encode() for e in events]
            )
            await wait_until(lambda: len(receiver.received) >= 3)
            await asyncio.sleep(0.5)  # nothing else may arrive
        assert notifier.stats.delivered == 3

    by_case: dict[str, tuple[str, dict[str, Any]]] = {}
    for got in receiver.received:
        assert got.headers["content-type"] == "application/json"
        body = verify(got.headers, got.body, secret)  # raises unless signed with our secret
        by_case[body["metadata"]["case"]] = (got.path, body)
    assert set(by_case) == {"pii", "clean", "error"}
    assert by_case["pii"][0] == "/triggered"  # default statuses: triggered
    assert by_case["pii"][1]["status"] == "triggered"
    assert by_case["clean"][0] == "/errors-and-clean"
    assert by_case["clean"][1]["status"] == "not_triggered"
    assert by_case["error"][0] == "/errors-and-clean"
    assert by_case["error"][1]["status"] == "error"
    # The whole Response is delivered, local-stage rulesets included.
    assert by_case["pii"][1]["ruleset_results"][0]["action"]["subscriptions"][0]["url"] == (
        receiver.url("/triggered")
    )


# -- retries -----------------------------------------------------------------------------------


async def test_same_webhook_id_on_every_retry_and_delivered_once(
    tansu: Broker, notify_settings: Callable[..., Settings], secret: str
) -> None:
    settings = notify_settings()
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as receiver:
        receiver.scripts["/flaky"] = Script(statuses=[500, 500, 500, 200])
        (delivery,) = await deliveries([receiver.url("/flaky")])
        async with running_notifier(tansu, settings) as notifier:
            await publish(tansu, settings, [delivery])
            await wait_until(lambda: notifier.stats.delivered == 1)
            await asyncio.sleep(0.5)
        attempts = receiver.at("/flaky")
    assert len(attempts) == 4
    assert {a.headers["webhook-id"] for a in attempts} == {delivery.id}
    for attempt in attempts:
        verify(attempt.headers, attempt.body, secret)
    assert notifier.stats.delivered == 1
    assert notifier.stats.retried == 3


async def test_retry_after_permanent_failures_and_410_go_to_the_dead_topic(
    tansu: Broker, notify_settings: Callable[..., Settings]
) -> None:
    settings = notify_settings(notify_retry_schedule_s=[0.1, 0.1])
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as receiver:
        receiver.scripts["/always-500"] = Script(statuses=[500])
        receiver.scripts["/bad-request"] = Script(statuses=[400])
        receiver.scripts["/gone"] = Script(statuses=[410])
        receiver.scripts["/redirect"] = Script(statuses=[302])
        items = await deliveries(
            [receiver.url(p) for p in ("/always-500", "/bad-request", "/gone", "/redirect")]
        )
        gone_again = await deliveries([receiver.url("/gone")])
        async with running_notifier(tansu, settings) as notifier:
            await publish(tansu, settings, items)
            await wait_until(lambda: notifier.stats.dead == 4)
            await publish(tansu, settings, gone_again)
            await wait_until(lambda: notifier.stats.dead == 5)
        assert len(receiver.at("/always-500")) == 3  # first attempt + 2 retries
        assert len(receiver.at("/gone")) == 1  # disabled: no attempt for the second delivery
    dead = await read_topic(tansu.bootstrap_servers, settings.notify_dead_topic, 5)
    failures = {
        Delivery.model_validate_json(r.value or b"").url.rsplit("/", 1)[
            1
        ]: Delivery.model_validate_json(r.value or b"")
        for r in dead
    }
    assert "retries exhausted" in (failures["always-500"].failure or "")
    assert [a.outcome for a in failures["always-500"].attempts] == ["http_500"] * 3
    assert failures["bad-request"].failure == "http_400"
    assert failures["redirect"].failure == "http_302"
    gone = [
        Delivery.model_validate_json(r.value or b"") for r in dead if b"/gone" in (r.value or b"")
    ]
    assert {d.failure for d in gone} == {
        "http_410: endpoint disabled",
        "endpoint_disabled (it answered 410 Gone)",
    }


async def test_retry_after_header_is_honoured(
    tansu: Broker, notify_settings: Callable[..., Settings]
) -> None:
    settings = notify_settings(notify_retry_schedule_s=[30.0])  # Retry-After must win
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as receiver:
        receiver.scripts["/busy"] = Script(statuses=[429, 204], retry_after="1")
        (delivery,) = await deliveries([receiver.url("/busy")])
        async with running_notifier(tansu, settings) as notifier:
            await publish(tansu, settings, [delivery])
            await wait_until(lambda: notifier.stats.delivered == 1, timeout_s=20)
        first, second = receiver.at("/busy")
    assert 0.9 <= second.at - first.at < 10  # ~1 s (Retry-After), not the 30 s schedule


# -- faults of one delivery ----------------------------------------------------------------------

# Each passes the Subscription pattern of older versions and each makes httpx.URL raise.
UNPARSABLE_URLS = [
    "http://127.000.000.001/",
    "http://host:port/",
    "http://256.0.0.1/",
    "http://☃.example/",  # not valid IDNA
]


async def test_deliveries_to_urls_the_client_cannot_parse_are_dead_lettered_and_others_go_on(
    tansu: Broker, notify_settings: Callable[..., Settings], network_guard: NetworkGuard
) -> None:
    settings = notify_settings()
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as receiver:
        good_url = receiver.url("/ok")
        (template,) = await deliveries([good_url])
        # Written by another producer: only the delivery's URL is bad.
        foreign = [
            template.model_copy(update={"id": f"msg_foreign{i}", "url": url})
            for i, url in enumerate(UNPARSABLE_URLS)
        ]
        # Written by an older worker: the URL is bad in the Response's subscription too.
        older = [
            template.model_dump_json()
            .replace(good_url, url)
            .replace(template.id, f"msg_older{i}")
            .encode()
            for i, url in enumerate(UNPARSABLE_URLS)
        ]
        good = await deliveries([good_url], n_each=2)
        async with running_notifier(tansu, settings) as notifier:
            # The bad ones first: before, the first of them stopped the notifier.
            await publish(tansu, settings, foreign)
            await produce(tansu.bootstrap_servers, settings.notifications_topic, older)
            await publish(tansu, settings, good)
            await wait_until(lambda: notifier.stats.dead == len(foreign) + len(older))
            await wait_until(lambda: receiver.delivered_ids("/ok") == {d.id for d in good})
            assert notifier.stats.errors == 0
    dead = [
        # As the notifier reads them: the older records' Responses carry the bad URL as well.
        Delivery.model_validate_json(r.value or b"", context=AS_RECORDED)
        for r in await read_topic(
            tansu.bootstrap_servers, settings.notify_dead_topic, len(foreign) + len(older)
        )
    ]
    failures = {d.id: d.failure or "" for d in dead}
    assert set(failures) == {f"msg_{kind}{i}" for kind in ("foreign", "older") for i in range(4)}
    for failure in failures.values():
        assert failure.startswith("invalid_url: not a URL the HTTP client accepts: Invalid ")
    assert all(d.attempts == [] for d in dead)  # never attempted
    assert not network_guard.violations


async def test_delivery_records_with_header_keys_that_are_not_utf8_are_delivered_like_others(
    tansu: Broker, notify_settings: Callable[..., Settings]
) -> None:
    """aiokafka cannot read the record batch of a header key that is not UTF-8, and failed at
    every fetch: the notifier stopped. Only another producer writes one (the worker's header
    keys are text); the notifier reads no header, so such a Delivery is delivered."""
    settings = notify_settings()
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    bootstrap, topic = tansu.bootstrap_servers, settings.notifications_topic
    with Receiver() as receiver:
        items = await deliveries([receiver.url("/ok")], n_each=7)
        values = [d.model_dump_json().encode() for d in items]
        undecodable: list[tuple[str, bytes | None]] = [("ok", b"1"), (RawKey(b"\xff-k"), b"x")]
        await produce_batch(bootstrap, topic, 0, [(values[0], []), (values[1], undecodable)])
        await produce_batch(bootstrap, topic, 0, [(values[2], []), (values[3], [])])
        await produce_batch(bootstrap, topic, 1, [(values[4], [(RawKey(b"\xc3"), None)])])
        async with running_notifier(tansu, settings) as notifier:
            await publish(tansu, settings, items[5:])
            await wait_until(lambda: receiver.delivered_ids("/ok") == {d.id for d in items})
            assert notifier.stats.dead == 0
            assert notifier.stats.errors == 0
        assert len(receiver.at("/ok")) == len(items)  # each once


async def test_an_unexpected_error_with_one_delivery_dead_letters_it_and_the_loop_goes_on(
    tansu: Broker, notify_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    # A real fault of some deliveries only: their URL's secret is a file that was removed after
    # the notifier started (its start-up check passed), so signing them raises a
    # ConfigurationError inside the attempt.
    secret_file = tmp_path / "secret"
    secret_file.write_text(generate_secret())
    with Receiver() as receiver:
        settings = notify_settings(
            webhook_secrets={receiver.url("/misconfigured"): f"file:{secret_file}"}
        )
        await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
        broken = await deliveries([receiver.url("/misconfigured")], n_each=3)
        fine = await deliveries([receiver.url("/ok")], n_each=3)
        later = await deliveries([receiver.url("/ok")], n_each=2)
        async with running_notifier(tansu, settings) as notifier:
            secret_file.unlink()
            await publish(tansu, settings, [*broken, *fine])
            await wait_until(lambda: notifier.stats.dead == len(broken))
            await publish(tansu, settings, later)  # the loop goes on
            want = {d.id for d in [*fine, *later]}
            await wait_until(lambda: receiver.delivered_ids("/ok") == want)
        assert receiver.at("/misconfigured") == []
    assert notifier.stats.errors == len(broken)
    dead = await read_topic(tansu.bootstrap_servers, settings.notify_dead_topic, len(broken))
    records = [Delivery.model_validate_json(r.value or b"") for r in dead]
    assert {d.id for d in records} == {d.id for d in broken}
    for record in records:
        assert record.failure is not None
        assert record.failure.startswith(
            f"handling_failed: ConfigurationError: secret reference file:{secret_file}: "
        )


async def test_a_delivery_as_large_as_the_worker_may_write_can_be_retried(
    tansu: Broker, notify_settings: Callable[..., Settings]
) -> None:
    # The worker writes Delivery records up to RESPONSE_SIZE_FACTOR x max_record_bytes; the
    # notifier's retry record of one must fit its producer too (before: over 1 MiB, it raised
    # MessageSizeTooLargeError and stopped the notifier, at every restart).
    settings = notify_settings()
    limit = RESPONSE_SIZE_FACTOR * settings.max_record_bytes
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as receiver:
        receiver.scripts["/flaky"] = Script(statuses=[503, 204])
        (small,) = await deliveries([receiver.url("/flaky")])
        text = "x" * (settings.max_record_bytes + settings.max_record_bytes // 2)
        big = small.model_copy(
            update={"response": small.response.model_copy(update={"text": text})}
        )
        value = big.model_dump_json().encode()
        assert 1 << 20 < len(value) < limit
        producer = AIOKafkaProducer(
            bootstrap_servers=tansu.bootstrap_servers, max_request_size=limit
        )
        await producer.start()
        try:
            await producer.send_and_wait(settings.notifications_topic, value, key=big.id.encode())
        finally:
            await producer.stop()
        async with running_notifier(tansu, settings) as notifier:
            await wait_until(lambda: receiver.delivered_ids("/flaky") == {big.id})
        assert notifier.stats.retried == 1
        assert len(receiver.at("/flaky")[-1].body) == len(big.response.model_dump_json())


async def test_a_broker_failure_stops_the_notifier_and_a_restart_delivers_what_it_left(
    tansu: Broker, notify_settings: Callable[..., Settings]
) -> None:
    settings = notify_settings(notify_retry_schedule_s=[0.2] * 3)
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as receiver:
        receiver.scripts["/flaky"] = Script(statuses=[503, 204])
        (delivery,) = await deliveries([receiver.url("/flaky")])
        notifier = Notifier(settings, tansu.bootstrap_servers, WebhookClient(settings))
        task = asyncio.create_task(notifier.run(asyncio.Event()))
        await wait_until(lambda: bool(notifier.offsets))  # joined its group
        # The fault: the notifier's producer is gone, so the retry record that the failed
        # attempt calls for cannot be written. (Its real producer, closed: a broker outage
        # cannot be staged on the broker the other tests share.)
        assert notifier._producer is not None
        await notifier._producer.stop()
        await publish(tansu, settings, [delivery])
        with pytest.raises(BrokerError):
            await asyncio.wait_for(task, 30)
        assert len(receiver.at("/flaky")) == 1
        # Nothing was committed past the delivery: the next notifier of the group has it.
        async with running_notifier(tansu, settings):
            await wait_until(lambda: receiver.delivered_ids("/flaky") == {delivery.id})


# -- the circuit breaker ----------------------------------------------------------------------


async def test_an_open_breaker_parks_deliveries_instead_of_rewriting_them(
    tansu: Broker, notify_settings: Callable[..., Settings]
) -> None:
    n = 40
    settings = notify_settings(
        notify_breaker_failures=2,
        notify_breaker_cooldown_s=0.5,
        notify_endpoint_concurrency=1,  # attempts one at a time: the breaker opens after 2
        # Short retries (parked retries are exercised too), and a span long enough that no
        # parked delivery is given up before the endpoint recovers.
        notify_retry_schedule_s=[0.2, 0.2, 0.2, 60.0],
    )
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as receiver:
        receiver.scripts["/down"] = Script(statuses=[503])
        items = await deliveries([receiver.url("/down")], n_each=n)
        ids = {d.id for d in items}
        async with running_notifier(tansu, settings) as notifier:
            await publish(tansu, settings, items)
            # Down while all n arrive, and for a few probes after the first cool-down.
            await wait_until(
                lambda: notifier.stats.parked >= n - 2 and len(receiver.at("/down")) >= 4
            )
            receiver.scripts["/down"] = Script(statuses=[204])  # recovers
            await wait_until(lambda: receiver.delivered_ids("/down") == ids)
            stats = notifier.stats
        failed = [r for r in receiver.at("/down") if r.status == 503]
        delivered = [r for r in receiver.at("/down") if r.status == 204]
    retries = await records_in(tansu.bootstrap_servers, settings.notify_retry_topic)
    print(
        f"\nopen breaker: {n} deliveries, {len(failed)} failed attempts while down, "
        f"{len(retries)} retry records, {stats.parked} parked"
    )
    # One retry record per failed attempt, none for a parked delivery: while the endpoint was
    # down it saw only the attempts that opened the breaker and one probe per cool-down.
    assert len(retries) == len(failed)
    assert len({r.headers["webhook-id"] for r in failed}) < n // 2
    assert len(delivered) == n  # each once: nothing was rewritten, so nothing was duplicated
    assert stats.dead == 0
    for record in retries:
        assert len(Delivery.model_validate_json(record.value or b"").attempts) <= 4


async def test_parked_deliveries_are_given_up_when_the_endpoint_never_recovers(
    tansu: Broker, notify_settings: Callable[..., Settings]
) -> None:
    n = 10
    settings = notify_settings(
        notify_breaker_failures=1,
        notify_breaker_cooldown_s=3600.0,  # no probe during the test
        notify_endpoint_concurrency=1,
        notify_retry_schedule_s=[0.3, 0.3],  # a span of 0.6 s (+ 20 % jitter)
    )
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as receiver:
        receiver.scripts["/down"] = Script(statuses=[503])
        items = await deliveries([receiver.url("/down")], n_each=n)
        async with running_notifier(tansu, settings) as notifier:
            await publish(tansu, settings, items)
            await wait_until(lambda: notifier.stats.dead == n)
        assert len(receiver.at("/down")) == 1  # the attempt that opened the breaker
    assert notifier.stats.parked_too_long == n
    assert notifier.stats.retried == 1
    dead = await read_topic(tansu.bootstrap_servers, settings.notify_dead_topic, n)
    records = [Delivery.model_validate_json(r.value or b"") for r in dead]
    assert {d.id for d in records} == {d.id for d in items}
    for record in records:
        assert (record.failure or "").startswith("circuit_open: ")
    assert sorted(d.attempt_count for d in records) == [0] * (n - 1) + [1]


async def test_attempt_histories_are_bounded(
    tansu: Broker, notify_settings: Callable[..., Settings]
) -> None:
    retries = 3 * MAX_ATTEMPTS_KEPT
    settings = notify_settings(
        notify_retry_schedule_s=[0.02] * retries,
        notify_breaker_failures=10 * retries,  # the breaker stays out of it
    )
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as receiver:
        receiver.scripts["/always-500"] = Script(statuses=[500])
        (delivery,) = await deliveries([receiver.url("/always-500")])
        async with running_notifier(tansu, settings) as notifier:
            await publish(tansu, settings, [delivery])
            await wait_until(lambda: notifier.stats.dead == 1)
    (record,) = await read_topic(tansu.bootstrap_servers, settings.notify_dead_topic, 1)
    dead = Delivery.model_validate_json(record.value or b"")
    assert dead.failure == f"retries exhausted after {retries + 1} attempts"
    assert dead.attempt_count == retries + 1
    assert len(dead.attempts) == MAX_ATTEMPTS_KEPT
    retry_sizes = [
        len(r.value or b"")
        for r in await records_in(tansu.bootstrap_servers, settings.notify_retry_topic)
    ]
    assert len(retry_sizes) == retries
    # Once the history is full a record stops growing (only digits in it may change).
    full = retry_sizes[MAX_ATTEMPTS_KEPT - 1 :]
    assert max(full) - min(full) < 100


# -- isolation --------------------------------------------------------------------------------


async def test_a_hanging_endpoint_does_not_delay_a_healthy_one(
    tansu: Broker, notify_settings: Callable[..., Settings]
) -> None:
    timeout_s = 1.0
    settings = notify_settings(notify_attempt_timeout_s=timeout_s, notify_endpoint_concurrency=2)
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    with Receiver() as hanging, Receiver() as healthy:
        hanging.scripts["/hook"] = Script(hang_s=20)
        slow = await deliveries([hanging.url("/hook")], n_each=10)
        fast = await deliveries([healthy.url("/hook")], n_each=10)
        async with running_notifier(tansu, settings) as notifier:
            await wait_until(lambda: bool(notifier.offsets))  # joined its group: measure from here
            published = time.monotonic()
            # The hanging endpoint's deliveries first, so any head-of-line blocking would show.
            await publish(tansu, settings, [*slow, *fast])
            await wait_until(lambda: len(healthy.at("/hook")) == 10)
            worst = max(r.at for r in healthy.at("/hook")) - published
    print(
        f"\nisolation: healthy endpoint got all 10 deliveries {worst:.2f} s after publication "
        f"(attempt timeout {timeout_s:g} s)"
    )
    assert worst < 1.0 + timeout_s  # fetch and scheduling slack + at most one attempt timeout


# -- SSRF ---------------------------------------------------------------------------------------


async def test_ssrf_private_and_metadata_addresses_are_refused_without_connecting(
    tansu: Broker, notify_settings: Callable[..., Settings], network_guard: NetworkGuard
) -> None:
    names = {
        "internal.example": "10.1.2.3",
        "router.example": "192.168.0.1",
        "linklocal.example": "169.254.10.10",
        "metadata.example": "169.254.169.254",
    }
    looked_up: list[str] = []

    async def resolver(host: str, port: int) -> list[IPv4Address | IPv6Address]:
        looked_up.append(host)
        return [ip_address(names[host])]

    settings = notify_settings(notify_allow_networks=[])  # nothing admitted
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    items = await deliveries([f"http://{name}/hook" for name in names])
    client = WebhookClient(settings, resolver=resolver)
    async with running_notifier(tansu, settings, client) as notifier:
        await publish(tansu, settings, items)
        await wait_until(lambda: notifier.stats.dead == len(items))
    assert sorted(looked_up) == sorted(names)
    dead = await read_topic(tansu.bootstrap_servers, settings.notify_dead_topic, len(items))
    reasons = {
        httpx_host(d): d.failure
        for d in (Delivery.model_validate_json(r.value or b"") for r in dead)
    }
    assert reasons["internal.example"] == "ssrf_refused:private"
    assert reasons["router.example"] == "ssrf_refused:private"
    assert reasons["linklocal.example"] == "ssrf_refused:link_local"
    assert reasons["metadata.example"] == "ssrf_refused:metadata"
    assert notifier.stats.delivered == 0
    # No connection was even attempted to any of the refused addresses (the guard records every
    # inet connect of the test, and fails loudly on any non-loopback one).
    assert not network_guard.violations
    attempted = " ".join(str(detail) for _, detail in network_guard.connects)
    assert not [ip for ip in names.values() if ip in attempted]


def httpx_host(delivery: Delivery) -> str:
    return delivery.url.split("/")[2]


# -- crash ----------------------------------------------------------------------------------


async def test_notifier_killed_with_pending_retries_completes_after_restart(
    tansu: Broker, notify_settings: Callable[..., Settings], tmp_path: Path, secret: str
) -> None:
    settings = notify_settings(notify_retry_schedule_s=[1.0] * 20, session_timeout_ms=6000)
    await ensure_topics(tansu.bootstrap_servers, Notifier.topic_specs(settings))
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": tansu.bootstrap_servers,
        "PROTECT_NOTIFY_GROUP_ID": settings.notify_group_id,
        "PROTECT_NOTIFICATIONS_TOPIC": settings.notifications_topic,
        "PROTECT_NOTIFY_RETRY_TOPIC": settings.notify_retry_topic,
        "PROTECT_NOTIFY_DEAD_TOPIC": settings.notify_dead_topic,
        "PROTECT_NOTIFY_RETRY_SCHEDULE_S": json.dumps(settings.notify_retry_schedule_s),
        "PROTECT_NOTIFY_ALLOW_NETWORKS": json.dumps(["127.0.0.1/32"]),
        # Every delivery is to fail once before the kill: no breaker may park them meanwhile.
        "PROTECT_NOTIFY_BREAKER_FAILURES": "1000",
        "PROTECT_WEBHOOK_DEFAULT_SECRET": f"env:{SECRET_ENV}",
        "PROTECT_SESSION_TIMEOUT_MS": "6000",
        "PROTECT_COMMIT_INTERVAL_S": "0.2",
        "PROTECT_LOG_FORMAT": "json",
        "PROTECT_LOG_LEVEL": "debug",  # every delivery's line, for the diagnosis of a failure
        "PROTECT_PROCESSES": "1",  # one process: the one killed
    }

    def start(name: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                [PROTECT, "notify"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    with Receiver() as receiver:
        receiver.scripts["/down"] = Script(statuses=[503])  # down until we say otherwise
        items = await deliveries([receiver.url("/down")], n_each=20)
        ids = {d.id for d in items}
        await publish(tansu, settings, items)
        first = start("first")
        try:
            # Every delivery has failed at least once: some retries are pending in Kafka, some
            # may not have been written yet (their notifications offsets are then uncommitted).
            await wait_until(
                lambda: len({r.headers["webhook-id"] for r in receiver.at("/down")}) == len(ids),
                timeout_s=60,
            )
            first.send_signal(signal.SIGKILL)
            first.wait()
            retries_logged = len(_logged_ids(tmp_path / "first.log", "delivery_retry_scheduled"))
            receiver.scripts["/down"] = Script(statuses=[204])  # the endpoint recovers
            second = start("second")
            try:
                # Counted as the receiver saw them: a 2xx answered per webhook-id. (The
                # notifier logs first-attempt successes at debug, so its info lines are no
                # count of deliveries.)
                with contextlib.suppress(AssertionError):
                    await wait_until(lambda: receiver.delivered_ids("/down") == ids, timeout_s=90)
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        delivered = receiver.delivered_ids("/down")
        answered = receiver.at("/down")
    missing = ids - delivered
    print(
        f"\nnotifier crash: {len(ids)} deliveries, {retries_logged} retry records logged before "
        f"the kill, all delivered after the restart: {not missing}"
    )
    assert not missing, (
        f"{len(missing)} of {len(ids)} deliveries lost across the crash; second notifier's "
        f"delivered lines: {len(_logged_ids(tmp_path / 'second.log', 'delivered'))}"
    )
    for got in answered:
        verify(got.headers, got.body, secret)


async def test_a_redelivered_event_keeps_its_webhook_ids(
    tansu: Broker,
    notify_settings: Callable[..., Settings],
    worker_factory: Callable[..., RunningWorker],
    tmp_path: Path,
) -> None:
    """A worker killed before committing: the next one evaluates the events again (new trace
    ids), and the receiver sees the same webhook-id for each, so it can deduplicate."""
    n = 6
    # Never a periodic commit: the victim's work is all uncommitted when it is killed.
    settings = notify_settings(session_timeout_ms=6000, commit_interval_s=3600.0)
    prompts = settings.bindings[0]
    await ensure_topics(
        tansu.bootstrap_servers,
        ScreeningWorker.topic_specs(settings) + Notifier.topic_specs(settings),
    )
    env = {
        **worker_env(settings, tansu),
        "PROTECT_NOTIFICATIONS_TOPIC": settings.notifications_topic,
        "PROTECT_COMMIT_INTERVAL_S": "3600",
    }
    with Receiver() as receiver, (tmp_path / "victim.log").open("wb") as log:
        url = receiver.url("/hook")
        events = [
            {
                "payload": {"input": "my ssn is 123-45-6789"},
                "stage_name": "hooks",
                "rulesets": subscribed_rulesets(url),
                "metadata": {"n": str(i)},
            }
            for i in range(n)
        ]

        def by_event() -> dict[str, list[tuple[str, str]]]:
            """Per event: (webhook-id, trace id) of every delivery the receiver got."""
            got: dict[str, list[tuple[str, str]]] = {}
            for r in receiver.at("/hook"):
                body = json.loads(r.body)
                got.setdefault(body["metadata"]["n"], []).append(
                    (r.headers["webhook-id"], body["trace_metadata"]["id"])
                )
            return got

        async with running_notifier(tansu, settings):
            victim = await asyncio.create_subprocess_exec(
                PROTECT, "run", env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                await produce(
                    tansu.bootstrap_servers,
                    prompts.input,
                    [json.dumps(e).encode() for e in events],
                )
                await wait_until(lambda: len(by_event()) == n, timeout_s=90)
                assert victim.returncode is None, (tmp_path / "victim.log").read_text()[-3000:]
                victim.send_signal(signal.SIGKILL)
                await victim.wait()
            finally:
                if victim.returncode is None:
                    victim.kill()
                    await victim.wait()
            worker_factory(tansu, settings)  # the group's next worker: reads them again
            await wait_until(lambda: all(len(v) >= 2 for v in by_event().values()), timeout_s=90)
        got = by_event()
    for event, seen in got.items():
        assert len({trace for _, trace in seen}) >= 2, event  # evaluated again: redelivered
        assert len({webhook_id for webhook_id, _ in seen}) == 1, event
    assert len({seen[0][0] for seen in got.values()}) == n  # distinct per event


def _logged_ids(log: Path, event: str) -> set[str]:
    ids = set()
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == event:
                ids.add(entry["webhook_id"])
    return ids
